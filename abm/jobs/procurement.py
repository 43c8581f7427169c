"""``abm procurement``: the procurement paper's experiments (Table 1, Table 2, Figs. 2-3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import write_json
from abm.theory.procurement import (
    MECHANISMS, ProcurementMarket, UniformCost, allocate_batch, evaluate_mechanisms, sample_table1_market,
)

__all__ = ["table1", "genai_table", "overproduction_maps", "PAPER_TABLE1"]

#: The paper's Table 1 (its Appendix E), for comparison; its hyperparameter draw is not given.
PAPER_TABLE1 = pd.DataFrame(
    {"revenue": ["-15.96", "-20.28", "[-30.68, -15.96]", "-30.68", "-30.68", "-34.21"],
     "welfare": ["-5.24", "-4.79", "<= -4.79", "-4.79", "-9.58", "-4.96"]}, index=list(MECHANISMS))


def table1(draws: int = 1000, seed: int = 0, market_seed: int = 3, method: str = "quadrature"):
    """The Table 1 experiment: one market drawn by the Appendix E recipe, ``draws`` cost vectors.

    Returns the per-draw revenue and welfare (long format), the table of means with the
    paper's values beside them, and the market.
    """
    market = sample_table1_market(market_seed)
    costs = market.sample_costs(draws, np.random.default_rng(seed))
    outcomes = evaluate_mechanisms(market, costs, method=method, rng=seed)
    per_draw = pd.concat([pd.DataFrame({"mechanism": name, "draw": np.arange(draws), "revenue": o.revenue,
                                        "welfare": o.welfare}) for name, o in outcomes.items()], ignore_index=True)
    rows = []
    for name, outcome in outcomes.items():
        revenue = (f"[{outcome.revenue.mean():.2f}, {outcome.revenue_upper.mean():.2f}]"
                   if outcome.revenue_upper is not None else f"{outcome.revenue.mean():.2f}")
        welfare = f"<= {outcome.welfare.mean():.2f}" if name == "M3" else f"{outcome.welfare.mean():.2f}"
        rows.append({"mechanism": name, "revenue": revenue, "welfare": welfare,
                     "revenue_se": outcome.revenue.std(ddof=1) / np.sqrt(draws),
                     "welfare_se": outcome.welfare.std(ddof=1) / np.sqrt(draws)})
    table = pd.DataFrame(rows).set_index("mechanism")
    table["paper_revenue"], table["paper_welfare"] = PAPER_TABLE1["revenue"], PAPER_TABLE1["welfare"]
    return per_draw, table, market


def genai_table(trajectories: int = 10, draws: int = 200, seed: int = 0) -> pd.DataFrame:
    """Table 2: mean revenue and welfare of M1 with and without GenAI (``mu = 0``), one row per
    market drawn by the Appendix E recipe."""
    rng = np.random.default_rng(seed)
    rows = []
    for trajectory in range(trajectories):
        market = sample_table1_market(rng)
        costs = market.sample_costs(draws, rng)
        row = {"trajectory": trajectory}
        for label, variant in (("with", market), ("without", market.without_genai())):
            outcome = evaluate_mechanisms(variant, costs)["M1"]
            row[f"revenue_{label}_genai"], row[f"welfare_{label}_genai"] = outcome.revenue.mean(), outcome.welfare.mean()
        rows.append(row)
    return pd.DataFrame(rows)


def overproduction_maps(points: int = 40, cost=(0.5, 0.5), rho=4.0, gamma=0.5):
    """Figs. 2-3: optimal ``x_1``, ``x_2`` over demands ``d_1, d_2`` in [1, 20] when only
    domain 1 transfers to domain 2 (``mu_12 = 1``, other ``mu = 0``)."""
    demands = np.linspace(1.0, 20.0, points)
    d1, d2 = np.meshgrid(demands, demands, indexing="ij")
    x = np.empty((points, points, 2))
    for i, first in enumerate(demands):
        for j, second in enumerate(demands):
            market = ProcurementMarket([first, second], [rho, rho], [[0, 1], [0, 0]], np.full((2, 2), gamma),
                                       (UniformCost(0, 1), UniformCost(0, 1)))
            x[i, j] = allocate_batch(market, np.array([cost]))[0][0]
    return demands, x


def write_table1(per_draw: pd.DataFrame, table: pd.DataFrame, market: ProcurementMarket, out: Path,
                 seed: int, market_seed: int) -> list[Path]:
    """Write ``table1.csv``, ``table1_draws.parquet``, ``summary.json`` and ``table1.png`` (box plots)."""
    from analysis.plots import plot_procurement_boxes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "table1.csv", out / "table1_draws.parquet", out / "summary.json", out / "table1.png"]
    table.to_csv(paths[0])
    per_draw.to_parquet(paths[1], index=False)
    write_json(paths[2], {"job": "procurement table1", "seed": seed, "market_seed": market_seed,
                          "market": {"demand": market.demand, "rho": market.rho, "mu": market.mu,
                                     "gamma": market.gamma, "costs": [repr(c) for c in market.costs]},
                          "table": table.reset_index().to_dict(orient="records")})
    plot_procurement_boxes(per_draw).savefig(paths[3], dpi=120)
    return paths
