"""``abm reproduce``: regenerate every figure and table the documentation shows.

One named specification per figure or table, each running the same job a user would run
(``abm static``, ``abm run``, ``abm compare``, ``abm sweep``, ``abm validate``). The quick
variant shrinks populations and horizons so the whole set runs in about a minute; its
numbers are not the ones quoted in the docs, so it writes to ``results/reproduce_quick`` and
refuses to write into ``docs/figures``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["SPECIFICATIONS", "reproduce", "NAME", "HELP", "add_arguments", "run"]

NAME = "reproduce"
HELP = "regenerate every figure and table the docs show"

ROOT = Path(__file__).resolve().parents[2]


def _static(out: Path, quick: bool) -> list[Path]:
    from abm.jobs.static import default_market, static_report, write_static_report

    return write_static_report(static_report(default_market(), rounds=200), out / "static")


def _run(out: Path, quick: bool) -> list[Path]:
    from abm.jobs.run import write_run
    from abm.scenario import default_scenario
    from abm.simulation.run import replicate

    scenario = default_scenario().with_simulation(agents=500, horizon=50.0) if quick else default_scenario()
    return write_run(replicate(scenario), out / "curse_of_precision")


def _compare(out: Path, quick: bool) -> list[Path]:
    from abm.jobs.compare import write_dynamic_comparison, write_static_comparison
    from analysis.comparison import compare_dynamic, compare_static
    from abm.regimes import RegimeSettings
    from abm.scenario import default_scenario
    from abm.jobs.static import default_market

    scenario = default_scenario().with_simulation(agents=500, horizon=50.0) if quick else default_scenario()
    paths = write_dynamic_comparison(compare_dynamic(scenario), out / "compare_curse_of_precision")
    settings = RegimeSettings()
    table = compare_static(default_market(), settings)
    return paths + write_static_comparison(table, default_market(), settings, out / "compare_static")


def _sweep(out: Path, quick: bool) -> list[Path]:
    from abm.simulation.sweep import load_sweep, run_sweep
    from analysis.plots import plot_sweep

    spec = load_sweep(ROOT / "sweeps" / "entry_elasticity.toml")
    if quick:
        from dataclasses import replace

        spec = replace(spec, replications=1, parameters=(replace(spec.parameters[0], num=5),),
                       base={**spec.base, "simulation": {**spec.base["simulation"], "agents": 100}},
                       source={**spec.source, "quick": True})
    target = out / "sweep_entry_elasticity"
    shutil.rmtree(target, ignore_errors=True)
    results = run_sweep(spec, target, workers=2, progress=False)
    plot_sweep(results, spec.parameters[0].path, spec.outputs).savefig(target / "sweep.png", dpi=120)
    return [target / "results.parquet", target / "sweep.png"]


def _procurement(out: Path, quick: bool) -> list[Path]:
    from abm.jobs import procurement as job
    from analysis.plots import plot_overproduction

    target = out / "procurement"
    per_draw, table, market = job.table1(draws=100 if quick else 1000)
    paths = job.write_table1(per_draw, table, market, target, seed=0, market_seed=3)
    demands, allocation = job.overproduction_maps(points=10 if quick else 40)
    plot_overproduction(demands, allocation).savefig(target / "overproduction.png", dpi=120)
    return paths + [target / "overproduction.png"]


def _procurement_paper(out: Path, quick: bool) -> list[Path]:
    """The rest of the procurement paper and the repeated-round experiments (analysis/procurement_paper.py)."""
    from analysis.procurement_paper import EXPERIMENTS, run_experiment

    return [path for name in EXPERIMENTS for path in run_experiment(name, out / "procurement", quick=quick)]


def _procurement_population(out: Path, quick: bool) -> list[Path]:
    """Many creators per domain against one meta creator per domain (``abm procurement population``)."""
    from abm.jobs import procurement as job

    creators, draws = ((1, 2, 10), 50) if quick else (job.POPULATION_SIZES, 1000)
    table = job.population_table(creators, draws=draws, seed=0, market_seed=3, domains=3)
    return job.write_population(table, out / "procurement", {"job": "procurement population", "seed": 0,
                                                             "market_seed": 3, "draws": draws, "domains": 3,
                                                             "creators": list(creators)})


def _validate(out: Path, quick: bool) -> list[Path]:
    from analysis.validation import run_checks, run_departures, write_report

    checks = run_checks(out / "validation", quick=quick)
    departures = run_departures(out / "validation", quick=quick)
    return [write_report(checks, out / "validation", seed=2026, quick=quick, departures=departures)]


def _dashboard(out: Path, quick: bool) -> list[Path]:
    from abm.dashboard.screenshots import take_screenshots

    return take_screenshots(out / "dashboard")  # the same browser code as tests/test_dashboard.py


def _welfare(out: Path, quick: bool) -> list[Path]:
    from abm.scenario import default_scenario
    from analysis.welfare import discount_rate_table, plot_discount_rates

    target = out / "welfare"
    target.mkdir(parents=True, exist_ok=True)
    rates = (0.01, 0.05, 0.2) if quick else (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    table = discount_rate_table(default_scenario().market, rates, horizon=100.0 if quick else 200.0)
    table.to_csv(target / "discount_rates.csv", index=False)
    plot_discount_rates(table).savefig(target / "discount_rates.png", dpi=120, bbox_inches="tight")
    return [target / "discount_rates.csv", target / "discount_rates.png"]


def _behaviours(out: Path, quick: bool) -> list[Path]:
    """``abm compare logit_entry --behaviours``: every creator behaviour under every regime (docs/behaviours.md)."""
    from abm.jobs.compare import write_behaviour_comparison
    from abm.scenario import resolve_scenario
    from analysis.comparison import compare_behaviours

    scenario = resolve_scenario("logit_entry")
    if quick:
        scenario = scenario.with_simulation(agents=300, horizon=25.0)
    return write_behaviour_comparison(compare_behaviours(scenario), scenario, out / "behaviours_logit_entry")


#: Shipped populations of the market-structure comparison (docs/regimes.md, which structure escapes the curse).
STRUCTURE_POPULATIONS = ("curse_of_precision", "healthy_market", "curse_with_diverse_imitators")


def _structures(out: Path, quick: bool) -> list[Path]:
    """``abm compare <population> --seed 0`` for each of :data:`STRUCTURE_POPULATIONS` (every regime and
    two rival AI firms under each licence): each population's summary table
    (``<population>_regimes.csv``, as ``regimes.csv`` of ``abm compare``) and the answers side by side
    (``structures.csv``, ``structures.png``); the trajectories are left out (``abm compare`` writes them)."""
    import pandas as pd

    from analysis.comparison import compare_dynamic, structure_table
    from analysis.plots import plot_structures
    from abm.scenario import resolve_scenario

    target = out / "structures"
    target.mkdir(parents=True, exist_ok=True)
    paths, tables = [], []
    for name in STRUCTURE_POPULATIONS:
        scenario = resolve_scenario(name).with_simulation(seed=0)
        if quick:
            scenario = scenario.with_simulation(agents=300, horizon=min(scenario.simulation.horizon, 25.0))
        comparison = compare_dynamic(scenario)
        comparison.summary.to_csv(target / f"{name}_regimes.csv")
        paths.append(target / f"{name}_regimes.csv")
        tables.append(structure_table(comparison))
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(target / "structures.csv", index=False)
    plot_structures(table).savefig(target / "structures.png", dpi=110)
    return paths + [target / "structures.csv", target / "structures.png"]


#: Every figure and table of the docs, by name, with the job that makes it.
SPECIFICATIONS = {
    "static": _static,
    "run": _run,
    "compare": _compare,
    "structures": _structures,
    "behaviours": _behaviours,
    "sweep": _sweep,
    "procurement": _procurement,
    "procurement_paper": _procurement_paper,
    "procurement_population": _procurement_population,
    "validate": _validate,
    "welfare": _welfare,
    "dashboard": _dashboard,
}


#: Where the documentation's figures live; only a full (not quick) reproduction may write there.
DOCS_FIGURES = ROOT / "docs" / "figures"


def reproduce(out=None, quick: bool = False, only=None, progress: bool = False) -> dict[str, list[Path]]:
    """Run the named specifications (default all) and return the files each wrote.

    ``out`` defaults to ``docs/figures`` (full) or ``results/reproduce_quick`` (quick).

    Raises
    ------
    ValueError
        For an unknown specification, or a quick run aimed at ``docs/figures``.
    """
    from abm.storage import output_dir

    out = output_dir(out) if out is not None else (Path("results/reproduce_quick") if quick else DOCS_FIGURES)
    if quick and out.resolve() == DOCS_FIGURES.resolve():
        raise ValueError(f"--quick numbers are not the documented ones: refusing to write into {DOCS_FIGURES}; "
                         "give another --out")
    names = list(only or SPECIFICATIONS)
    unknown = [n for n in names if n not in SPECIFICATIONS]
    if unknown:
        raise ValueError(f"unknown specification(s) {unknown}; known: {list(SPECIFICATIONS)}")
    steps = names
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(names, desc="reproduce", unit="figure set")
    written = {}
    for name in steps:
        if progress:
            steps.set_postfix_str(name)
        written[name] = SPECIFICATIONS[name](out, quick)
    return written


def add_arguments(parser) -> None:
    """Arguments of ``abm reproduce``."""
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default docs/figures, or results/reproduce_quick with --quick)")
    parser.add_argument("--quick", action="store_true", help="small populations and horizons (about a minute)")
    parser.add_argument("--only", nargs="+", help=f"some of: {' '.join(SPECIFICATIONS)}")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args) -> int:
    """Regenerate the named figures and tables."""
    for name, paths in reproduce(args.out, quick=args.quick, only=args.only, progress=not args.no_progress).items():
        print(f"{name}: " + ", ".join(str(p) for p in paths))
    return 0
