"""``abm procurement``: the procurement paper's experiments (Table 1, Table 2, Figs. 2-3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import write_json
from abm.theory.procurement import (
    MECHANISMS, ProcurementMarket, UniformCost, allocate_batch, evaluate_mechanisms, sample_table1_market,
)

__all__ = ["table1", "genai_table", "overproduction_maps", "PAPER_TABLE1", "NAME", "HELP", "add_arguments", "run"]

NAME = "procurement"
HELP = "procurement across domains with GenAI transfer: Table 1, Table 2, overproduction"

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


def add_arguments(parser) -> None:
    """Arguments of ``abm procurement``."""
    parser.add_argument("experiment", choices=("table1", "genai", "overproduction"),
                        help="table1: revenue and welfare of M1-M6; genai: Table 2 with and without GenAI; "
                             "overproduction: the optimal allocation over demands")
    parser.add_argument("--draws", type=int, default=1000, help="cost draws (table1; genai uses 200 per market)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cost draws")
    parser.add_argument("--market-seed", type=int, default=3, help="seed of the table1 market's hyperparameters")
    parser.add_argument("--out", type=Path, default=Path("results/procurement"), help="output directory")


def run(args) -> int:
    """Run one procurement experiment and write its tables and figures."""
    import time

    from abm.storage import write_json

    args.out.mkdir(parents=True, exist_ok=True)
    if args.experiment == "table1":
        start = time.perf_counter()
        per_draw, table, market = table1(args.draws, args.seed, args.market_seed)
        print(f"Table 1 ({args.draws} cost draws, market seed {args.market_seed}, exact payment quadrature, "
              f"{time.perf_counter() - start:.1f} s):")
        print(table.to_string(float_format="{:.3f}".format))
        paths = write_table1(per_draw, table, market, args.out, args.seed, args.market_seed)
    elif args.experiment == "genai":
        table = genai_table(seed=args.seed)
        print("Table 2: M1 with and without GenAI (mu = 0), one market per row:")
        print(table.to_string(index=False, float_format="{:.2f}".format))
        means = table.mean()
        print(f"means: revenue {means.revenue_without_genai:.2f} -> {means.revenue_with_genai:.2f}, "
              f"welfare {means.welfare_without_genai:.2f} -> {means.welfare_with_genai:.2f}")
        paths = [args.out / "table2.csv", args.out / "table2.json"]
        table.to_csv(paths[0], index=False)
        write_json(paths[1], {"job": "procurement genai", "seed": args.seed,
                              "table": table.to_dict(orient="records")})
    else:
        from analysis.plots import plot_overproduction

        demands, allocation = overproduction_maps()
        x1 = allocation[:, -1, 0]
        print(f"overproduction (c = (0.5, 0.5), rho = 4, gamma = 0.5, mu_12 = 1): at d_2 = 20, x_1 = "
              f"{x1[0]:.4f} for d_1 = {demands[0]:.1f} and {x1[demands < 9].min():.4f}..{x1[demands < 9].max():.4f} "
              "for every d_1 below 9")
        paths = [args.out / "overproduction.png", args.out / "overproduction.csv"]
        plot_overproduction(demands, allocation).savefig(paths[0], dpi=120)
        grid = np.array([(a, b, *allocation[i, j]) for i, a in enumerate(demands) for j, b in enumerate(demands)])
        pd.DataFrame(grid, columns=["d1", "d2", "x1", "x2"]).to_csv(paths[1], index=False)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
