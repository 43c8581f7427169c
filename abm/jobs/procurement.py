"""``abm procurement``: the procurement paper's experiments (its Table 1, Table 2, Figs. 2-3).

Every table written is numeric: bounds have their own columns (``revenue_lower``,
``revenue_upper``, ...), and the paper's published values sit in ``paper_*`` columns.
Progress bars go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from abm.storage import write_json
from abm.theory.procurement import (
    MECHANISMS,
    POPULATION_MECHANISMS,
    ProcurementMarket,
    evaluate_mechanisms,
    mean_and_error,
    mechanism_round,
    overproduction_market,
    sample_table1_market,
)

__all__ = ["table1", "genai_table", "overproduction_maps", "write_table1", "population_table", "write_population",
           "PAPER_TABLE1", "PAPER_TABLE2", "NAME", "HELP", "add_arguments", "run"]

NAME = "procurement"
HELP = "procurement across domains with GenAI transfer: Table 1, Table 2, overproduction, many creators per domain"

_NAN = np.nan
#: The paper's Table 1 (its Appendix E): M3 has only bounds (revenue in [lower, upper],
#: welfare at most ``welfare_upper``); its hyperparameter draw is not given.
PAPER_TABLE1 = pd.DataFrame(
    {"revenue": [-15.96, -20.28, _NAN, -30.68, -30.68, -34.21],
     "revenue_lower": [-15.96, -20.28, -30.68, -30.68, -30.68, -34.21],
     "revenue_upper": [-15.96, -20.28, -15.96, -30.68, -30.68, -34.21],
     "welfare": [-5.24, -4.79, _NAN, -4.79, -9.58, -4.96],
     "welfare_lower": [-5.24, -4.79, _NAN, -4.79, -9.58, -4.96],
     "welfare_upper": [-5.24, -4.79, -4.79, -4.79, -9.58, -4.96]},
    index=pd.Index(list(MECHANISMS), name="mechanism"))

#: The paper's Table 2: M1 with and without GenAI, 10 trajectories (its own market draws).
PAPER_TABLE2 = pd.DataFrame({
    "revenue_with_genai": [-10.88, -16.65, -7.98, -34.49, -15.55, -15.24, -15.88, -13.18, -24.51, -10.87],
    "welfare_with_genai": [-2.94, -5.54, -1.86, -9.22, -4.47, -5.01, -4.58, -3.42, -4.81, -2.86],
    "revenue_without_genai": [-21.82, -21.95, -32.08, -42.91, -36.93, -20.57, -35.46, -35.83, -23.68, -37.80],
    "welfare_without_genai": [-3.86, -4.20, -4.93, -7.13, -6.54, -3.40, -7.49, -6.15, -4.84, -8.02]})


def _bar(total: int, description: str, progress: bool, unit: str):
    return tqdm(total=total, desc=description, unit=unit, disable=not progress, file=sys.stderr, leave=False)


def table1(draws: int = 1000, seed: int = 0, market_seed: int = 3, method: str = "quadrature",
           progress: bool = False):
    """The Table 1 experiment: one market drawn by the Appendix E recipe, ``draws`` cost vectors.

    Parameters
    ----------
    draws : int
        Cost vectors drawn with ``seed``.
    market_seed : int
        Seed of the market's hyperparameters.
    method : {"quadrature", "randomized"}
        Payment rule of M1/M2 (see :func:`abm.theory.procurement.myerson_payments`).
    progress : bool
        Show a progress bar (stderr), one step per mechanism.

    Returns
    -------
    per_draw : pandas.DataFrame
        Long format: ``mechanism``, ``draw``, ``revenue``, ``welfare`` and the bounds
        ``revenue_lower``, ``revenue_upper``, ``welfare_upper`` (equal to the values for
        every mechanism but M3, whose values are ``nan``).
    table : pandas.DataFrame
        Means per mechanism, their standard errors, bounds, and the paper's values.
    market : ProcurementMarket
    """
    market = sample_table1_market(market_seed)
    costs = market.sample_costs(draws, np.random.default_rng(seed))
    with _bar(len(MECHANISMS) - 1, "table1: mechanisms", progress, "mechanism") as bar:

        def done(name: str) -> None:
            bar.set_postfix_str(f"{name} done", refresh=False)
            bar.update()

        outcomes = evaluate_mechanisms(market, costs, method=method, rng=seed, progress=done)
    per_draw = pd.concat([_draws_frame(name, o) for name, o in outcomes.items()], ignore_index=True)
    table = pd.DataFrame([_summary_row(name, o) for name, o in outcomes.items()]).set_index("mechanism")
    return per_draw, table.join(PAPER_TABLE1.add_prefix("paper_")), market


def _draws_frame(name, outcome) -> pd.DataFrame:
    bounded = outcome.revenue_upper is not None
    revenue = np.full(outcome.revenue.shape, np.nan) if bounded else outcome.revenue
    welfare = np.full(outcome.welfare.shape, np.nan) if bounded else outcome.welfare
    return pd.DataFrame({"mechanism": name, "draw": np.arange(outcome.revenue.size), "revenue": revenue,
                         "welfare": welfare, "revenue_lower": outcome.revenue,
                         "revenue_upper": outcome.revenue_upper if bounded else outcome.revenue,
                         "welfare_upper": outcome.welfare})


def _summary_row(name, outcome) -> dict:
    lower, lower_se = mean_and_error(outcome.revenue)
    if outcome.revenue_upper is not None:  # M3: bounds only
        upper, upper_se = mean_and_error(outcome.revenue_upper)
        welfare_upper, _ = mean_and_error(outcome.welfare)
        return {"mechanism": name, "revenue": np.nan, "revenue_lower": lower, "revenue_upper": upper,
                "welfare": np.nan, "welfare_lower": np.nan, "welfare_upper": welfare_upper,
                "revenue_se": np.nan, "welfare_se": np.nan}
    welfare, welfare_se = mean_and_error(outcome.welfare)
    return {"mechanism": name, "revenue": lower, "revenue_lower": lower, "revenue_upper": lower,
            "welfare": welfare, "welfare_lower": welfare, "welfare_upper": welfare,
            "revenue_se": lower_se, "welfare_se": welfare_se}


def genai_table(trajectories: int = 10, draws: int = 200, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Table 2: mean revenue and welfare of M1 with and without GenAI (``mu = 0``), one row per
    market drawn by the Appendix E recipe; the paper's values (its own draws) beside them."""
    rng = np.random.default_rng(seed)
    rows = []
    for trajectory in tqdm(range(trajectories), desc="genai: markets", unit="market", disable=not progress,
                           file=sys.stderr, leave=False):
        market = sample_table1_market(rng)
        costs = market.sample_costs(draws, rng)
        row = {"trajectory": trajectory}
        for label, variant in (("with", market), ("without", market.without_genai())):
            y, payments = mechanism_round(variant, "M1", costs)
            row[f"revenue_{label}_genai"] = -float(payments.sum(axis=1).mean())
            row[f"welfare_{label}_genai"] = -float((costs * y).sum(axis=1).mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    paper = PAPER_TABLE2.add_prefix("paper_").reindex(range(trajectories))
    return pd.concat([table, paper.reset_index(drop=True)], axis=1)


def overproduction_maps(points: int = 40, cost=(0.5, 0.5), rho=4.0, gamma=0.5, progress: bool = False):
    """Figs. 2-3: optimal ``x_1``, ``x_2`` over demands ``d_1, d_2`` in [1, 20] when only
    domain 1 transfers to domain 2 (``mu_12 = 1``, other ``mu = 0``), costs ``cost``
    (the grid and its warm starts: :func:`analysis.procurement_paper.demand_maps`).

    Returns
    -------
    demands : ndarray, shape (points,)
    x : ndarray, shape (points, points, 2)
        ``x[i, j]`` at ``d_1 = demands[i]``, ``d_2 = demands[j]``.
    """
    from analysis.procurement_paper import demand_maps

    return demand_maps(lambda d1, d2: overproduction_market(d1, d2, rho=rho, gamma=gamma), cost,
                       points=points, progress=progress)


def write_table1(per_draw: pd.DataFrame, table: pd.DataFrame, market: ProcurementMarket, out: Path,
                 seed: int, market_seed: int) -> list[Path]:
    """Write ``table1.csv``, ``table1_draws.parquet`` (seed and market in its metadata),
    ``summary.json`` and ``table1.png`` (box plots)."""
    from analysis.plots import plot_procurement_boxes

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "table1.csv", out / "table1_draws.parquet", out / "summary.json", out / "table1.png"]
    parameters = {"job": "procurement table1", "seed": seed, "market_seed": market_seed,
                  "draws": int(per_draw["draw"].max()) + 1, "market": _describe(market)}
    table.to_csv(paths[0])
    per_draw = per_draw.copy()
    per_draw.attrs = _plain(parameters)
    per_draw.to_parquet(paths[1], index=False)
    write_json(paths[2], parameters | {"table": table.reset_index().to_dict(orient="records")})
    plot_procurement_boxes(per_draw).savefig(paths[3], dpi=120)
    return paths


def _describe(market: ProcurementMarket) -> dict:
    return {"demand": market.demand, "rho": market.rho, "mu": market.mu, "gamma": market.gamma,
            "costs": [repr(c) for c in market.costs]}


def _plain(value):
    """``value`` with arrays turned into lists (for parquet metadata)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def add_arguments(parser) -> None:
    """Arguments of ``abm procurement``."""
    from analysis.procurement_paper import EXPERIMENTS

    parser.add_argument("experiment", choices=("table1", "genai", "overproduction", "population") + EXPERIMENTS,
                        help="table1: revenue and welfare of M1-M6; genai: Table 2 with and without GenAI; "
                             "overproduction: the optimal allocation over demands; population: many creators "
                             "per domain against one meta creator per domain; figure2, figure3 (panels c, d), "
                             "volatility (Fig. 8), genai_all (Table 2 / Fig. 9, every mechanism), genai_cost "
                             "(Appendix C.1), learning (creators learning to report), intermediaries (an acting "
                             "broker and union): see analysis/procurement_paper.py")
    parser.add_argument("--draws", type=int, default=None,
                        help="cost draws (table1: 1000 in all; genai: 200 per market)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cost draws (genai: also of the markets)")
    parser.add_argument("--market-seed", type=int, default=3, help="seed of the table1 market's hyperparameters")
    parser.add_argument("--trajectories", type=int, default=10, help="genai: markets drawn")
    parser.add_argument("--points", type=int, default=40, help="overproduction: grid points per demand")
    parser.add_argument("--creators", type=int, nargs="+", default=None,
                        help="population: creators per domain, one run each (default 1 2 10 100)")
    parser.add_argument("--domains", type=int, default=None, help="population: domains K of the market (default 3)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--out", type=Path, default=Path("results/procurement"), help="output directory")


def _check_arguments(args) -> None:
    """Refuse, before any work, options out of range or not used by the chosen experiment."""
    from analysis.procurement_paper import EXPERIMENTS

    if args.draws is not None and args.draws < 2:
        raise ValueError(f"--draws must be >= 2 (means and their standard errors need two), got {args.draws}")
    for name in ("seed", "market_seed"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.experiment == "overproduction" and args.draws is not None:
        raise ValueError("--draws is not used by overproduction (it draws no costs)")
    if args.experiment in EXPERIMENTS and args.draws is not None:
        raise ValueError(f"--draws is not used by {args.experiment} (its sizes are fixed; see docs/procurement.md)")
    for name in ("creators", "domains"):
        if getattr(args, name, None) is not None and args.experiment != "population":
            raise ValueError(f"--{name} is used by population only")
    if getattr(args, "creators", None) is not None and min(args.creators) < 1:
        raise ValueError(f"--creators must be integers >= 1 (creators per domain), got {args.creators}")
    if getattr(args, "domains", None) is not None and args.domains < 1:
        raise ValueError(f"--domains must be >= 1, got {args.domains}")


def run(args) -> int:
    """Run one procurement experiment and write its tables and figures."""
    import time

    from analysis.procurement_paper import EXPERIMENTS, run_experiment

    _check_arguments(args)
    args.out.mkdir(parents=True, exist_ok=True)
    progress, start = not args.no_progress, time.perf_counter()
    if args.experiment == "table1":
        draws = 1000 if args.draws is None else args.draws
        per_draw, table, market = table1(draws, args.seed, args.market_seed, progress=progress)
        print(f"Table 1 ({draws} cost draws, market seed {args.market_seed}, adaptive payment quadrature, "
              f"{time.perf_counter() - start:.1f} s):")
        print(table.to_string(float_format="{:.3f}".format))
        paths = write_table1(per_draw, table, market, args.out, args.seed, args.market_seed)
    elif args.experiment == "genai":
        draws = 200 if args.draws is None else args.draws
        table = genai_table(args.trajectories, draws, args.seed, progress=progress)
        print(f"Table 2: M1 with and without GenAI (mu = 0), one market per row "
              f"({time.perf_counter() - start:.1f} s):")
        print(table.to_string(index=False, float_format="{:.2f}".format))
        means = table.mean()
        print(f"means: revenue {means.revenue_without_genai:.2f} -> {means.revenue_with_genai:.2f}, "
              f"welfare {means.welfare_without_genai:.2f} -> {means.welfare_with_genai:.2f}")
        paths = _write_genai(table, args.out, {"job": "procurement genai", "seed": args.seed, "draws": draws,
                                               "trajectories": args.trajectories})
    elif args.experiment in EXPERIMENTS:
        paths = run_experiment(args.experiment, args.out, seed=args.seed, progress=progress)
    elif args.experiment == "population":
        draws = 1000 if args.draws is None else args.draws
        creators = POPULATION_SIZES if args.creators is None else tuple(args.creators)
        domains = 3 if args.domains is None else args.domains
        table = population_table(creators, draws, args.seed, args.market_seed, domains, progress=progress)
        print(f"Many creators per domain against one meta creator per domain ({draws} draws, {domains} domains, "
              f"market seed {args.market_seed}, {time.perf_counter() - start:.1f} s):")
        print(table.to_string(index=False, float_format="{:.4g}".format))
        paths = write_population(table, args.out, {"job": "procurement population", "seed": args.seed,
                                                   "market_seed": args.market_seed, "draws": draws,
                                                   "domains": domains, "creators": list(creators)})
    else:
        demands, allocation = overproduction_maps(args.points, progress=progress)
        x1 = allocation[:, -1, 0]
        print(f"overproduction (c = (0.5, 0.5), rho = 4, gamma = 0.5, mu_12 = 1): at d_2 = 20, x_1 = "
              f"{x1[0]:.4f} for d_1 = {demands[0]:.1f} and {x1[demands < 9].min():.4f}..{x1[demands < 9].max():.4f} "
              f"for every d_1 below 9 ({time.perf_counter() - start:.1f} s)")
        paths = _write_overproduction(demands, allocation, args.out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


#: Creators per domain of ``abm procurement population`` by default.
POPULATION_SIZES = (1, 2, 10, 100)
#: Draws of the meta creators' costs for their mean ``E[C_k]`` (M6's meta contract).
META_MEAN_DRAWS = 10_000


def population_table(creators=POPULATION_SIZES, draws: int = 1000, seed: int = 0, market_seed: int = 3,
                     domains: int = 3, progress: bool = False) -> pd.DataFrame:
    """Many creators per domain against one meta creator per domain (the paper's Appendix C.4).

    For each ``n`` in ``creators``: the Table 1 market with ``domains`` domains
    (``sample_table1_market(market_seed, k=domains)``) and ``n`` creators per domain, ``draws``
    draws of every creator's cost (seed ``seed``), every population mechanism
    (:func:`~abm.theory.procurement.population.evaluate_population`) and the meta-creator
    aggregation of the same draws (:func:`~abm.theory.procurement.population.meta_outcomes`;
    M6's contract at ``E[C_k]`` from :data:`META_MEAN_DRAWS` further draws, seed ``seed + 1``).

    Returns
    -------
    pandas.DataFrame
        One row per ``(creators, mechanism)``: means and standard errors of revenue and
        welfare, the meta creators' (``nan`` for M1, which has no meta version), and the
        paired gaps population minus meta with their standard errors; ``seconds`` is the
        time of the population mechanisms for that ``n``.
    """
    import time

    from abm.theory.procurement.population import Population, evaluate_population, meta_costs, meta_outcomes

    rows = []
    with _bar(len(creators) * len(POPULATION_MECHANISMS), "population", progress, "mechanism") as bar:
        for n in creators:
            population = Population(sample_table1_market(market_seed, k=domains), int(n))
            costs = population.sample_costs(draws, np.random.default_rng(seed))
            start = time.process_time()
            outcomes = evaluate_population(population, costs, progress=lambda name: bar.update())
            seconds = time.process_time() - start
            mean_meta = meta_costs(population, population.sample_costs(META_MEAN_DRAWS,
                                                                        np.random.default_rng(seed + 1))).mean(axis=0)
            meta = meta_outcomes(population, costs, mean_meta)
            for name in POPULATION_MECHANISMS:
                rows.append(_population_row(int(n), name, outcomes[name], meta.get(name), seconds))
    return pd.DataFrame(rows)


def _population_row(n: int, name: str, outcome, meta, seconds: float) -> dict:
    row = {"creators": n, "mechanism": name}
    for measure in ("revenue", "welfare"):
        values = getattr(outcome, measure)
        row[measure], row[f"{measure}_se"] = mean_and_error(values)
        if meta is None:
            row[f"meta_{measure}"] = row[f"{measure}_gap"] = row[f"{measure}_gap_se"] = np.nan
        else:
            row[f"meta_{measure}"] = float(np.mean(getattr(meta, measure)))
            row[f"{measure}_gap"], row[f"{measure}_gap_se"] = mean_and_error(values - getattr(meta, measure))
    return row | {"seconds": seconds}


def write_population(table: pd.DataFrame, out: Path, parameters: dict) -> list[Path]:
    """Write ``population.csv``, ``population.json`` and ``population.png`` (revenue and
    welfare against creators per domain, population beside meta creators)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "population.csv", out / "population.json", out / "population.png"]
    table.to_csv(paths[0], index=False)
    write_json(paths[1], parameters | {"table": table.to_dict(orient="records")})
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = dict(zip(POPULATION_MECHANISMS, plt.get_cmap("tab10").colors))
    for axis, measure, label in ((axes[0], "revenue", "mean revenue"), (axes[1], "welfare", "mean welfare")):
        for name, group in table.groupby("mechanism"):
            axis.errorbar(group["creators"], group[measure], yerr=1.96 * group[f"{measure}_se"], marker="o",
                          color=colours[name], label=f"{name}, creators")
            if group[f"meta_{measure}"].notna().any():
                axis.plot(group["creators"], group[f"meta_{measure}"], linestyle="--", marker="x",
                          color=colours[name], label=f"{name}, one meta creator per domain")
        axis.set_xscale("log")
        sizes = sorted(table["creators"].unique())
        axis.set_xticks(sizes, [str(n) for n in sizes])
        axis.minorticks_off()
        axis.set_xlabel("creators per domain, n_k (log scale)")
        axis.set_ylabel(label + " (money units)")
    axes[0].set_title("Revenue: minus the platform's payment")
    axes[1].set_title("Welfare: minus the creators' total cost")
    axes[1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=120)
    plt.close(figure)
    return paths


def _write_genai(table: pd.DataFrame, out: Path, parameters: dict) -> list[Path]:
    from analysis.procurement import plot_genai

    paths = [out / "table2.csv", out / "table2.json", out / "table2.png"]
    table.to_csv(paths[0], index=False)
    write_json(paths[1], parameters | {"table": table.to_dict(orient="records")})
    plot_genai(table).savefig(paths[2], dpi=120)
    return paths


def _write_overproduction(demands, allocation, out: Path) -> list[Path]:
    from analysis.plots import plot_overproduction

    paths = [out / "overproduction.png", out / "overproduction.csv"]
    plot_overproduction(demands, allocation).savefig(paths[0], dpi=120)
    grid = np.array([(a, b, *allocation[i, j]) for i, a in enumerate(demands) for j, b in enumerate(demands)])
    pd.DataFrame(grid, columns=["d1", "d2", "x1", "x2"]).to_csv(paths[1], index=False)
    return paths
