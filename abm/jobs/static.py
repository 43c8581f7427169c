"""The ``abm static`` job: solve a static market and tabulate the originality penalty."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import write_json
from abm.simulation.static_market.model import learn_static_prices
from abm.theory.static import (
    DEFAULT_BETA,
    InformationMarket,
    Outcome,
    free_for_all,
    originality_penalty,
    social_optimum,
    stackelberg,
)

NAME = "static"
HELP = "solve the static market: Stackelberg equilibrium, social optimum, originality penalty"

#: Most rounds ``--rounds`` may ask of the learning firm.
MAX_ROUNDS = 1_000_000


@dataclass(frozen=True)
class StaticReport:
    """Everything ``abm static`` reports.

    Attributes
    ----------
    market : InformationMarket
    outcomes : dict of str to Outcome
        ``"stackelberg"``, ``"social_optimum"`` and ``"free_for_all"``.
    creators : DataFrame
        One row per creator: beta, efforts, prices, payoffs and the penalty ratio.
    totals : DataFrame
        One row per outcome: precision, firm profit, creator surplus, welfare.
    learning : DataFrame or None
        Per round of the learning firm (:func:`abm.simulation.static_market.model.learn_static_prices`).
    seed : int
        Seed of the learning firm's initial prices.
    """

    market: InformationMarket
    outcomes: dict
    creators: pd.DataFrame
    totals: pd.DataFrame
    learning: pd.DataFrame | None = None
    seed: int = 0


def static_report(market: InformationMarket, rounds: int = 0, seed: int = 0) -> StaticReport:
    """Solve the market, the optimum and free-for-all, and tabulate them.

    With ``rounds > 0`` also play the market in rounds with a learning firm (seeded by
    ``seed``) and keep its per-round gap to the Stackelberg efforts.
    """
    outcomes: dict[str, Outcome] = {
        "stackelberg": stackelberg(market),
        "social_optimum": social_optimum(market),
        "free_for_all": free_for_all(market),
    }
    market_outcome, optimum = outcomes["stackelberg"], outcomes["social_optimum"]
    creators = pd.DataFrame(
        {
            "beta": market.beta,
            "effort_market": market_outcome.effort,
            "effort_optimum": optimum.effort,
            "penalty_ratio": originality_penalty(market),
            "price_market": market_outcome.price,
            "payoff_market": market_outcome.creator_payoff,
            "payoff_optimum_linear": optimum.creator_payoff,
        }
    )
    totals = pd.DataFrame(
        [
            {
                "outcome": name,
                "precision": o.precision,
                "firm_profit": o.firm_profit,
                "creator_surplus": o.creator_surplus,
                "welfare": o.welfare,
                "lambda": o.lam,
                "converged": o.converged,
            }
            for name, o in outcomes.items()
        ]
    ).set_index("outcome")
    learning = learn_static_prices(market, rounds, rng=seed) if rounds > 0 else None
    return StaticReport(market=market, outcomes=outcomes, creators=creators, totals=totals,
                        learning=learning, seed=seed)


def write_static_report(report: StaticReport, out: Path) -> list[Path]:
    """Write the tables (CSV), ``summary.json`` and ``static.png`` into ``out``."""
    from analysis.plots import new_axes, plot_learning_gap, plot_originality_penalty, plot_static_efforts

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "creators.csv", out / "totals.csv", out / "summary.json", out / "static.png"]
    report.creators.to_csv(paths[0], index=False)
    report.totals.to_csv(paths[1])
    summary = {
        "job": "static",
        "parameters": report.market,
        "seed": report.seed,
        "totals": report.totals.reset_index().to_dict(orient="records"),
        "penalty_ratio": report.creators["penalty_ratio"].to_numpy(),
    }
    if report.learning is not None:
        paths.append(out / "learning.csv")
        report.learning.to_csv(paths[-1], index=False)
        summary["learning_final_effort_gap"] = float(report.learning["effort_gap"].iloc[-1])
        summary["learning_rounds"] = len(report.learning)
    write_json(paths[2], summary)
    fig, axes = new_axes(3 if report.learning is not None else 2)
    plot_static_efforts(report.creators, axes[0])
    plot_originality_penalty(report.creators, axes[1])
    if report.learning is not None:
        plot_learning_gap(report.learning, axes[2])
    fig.savefig(paths[3], dpi=120)
    return paths


def format_static_report(report: StaticReport) -> str:
    """Human-readable text of the report for the terminal."""
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
        precision_gap = 1 - report.totals.loc["stackelberg", "precision"] / report.totals.loc[
            "social_optimum", "precision"
        ]
        return "\n".join(
            [
                f"Static information market: {report.market.n_creators} creators, "
                f"cost={report.market.cost}, sigma2={report.market.sigma2}, value={report.market.value}",
                "",
                "Equilibria (Lemma 10; Stackelberg market vs social optimum, Remark 2 free-for-all):",
                report.totals.to_string(),
                "",
                f"The market reaches {100 * (1 - precision_gap):.1f}% of the efficient precision (Prop. 3).",
                "",
                "Originality penalty e^M/e^S per creator (Prop. 4: 1/2 at beta = 0, rising in beta):",
                report.creators[["beta", "effort_market", "effort_optimum", "penalty_ratio"]].to_string(
                    index=False
                ),
                *_learning_lines(report.learning),
            ]
        )


def _learning_lines(learning: pd.DataFrame | None) -> list[str]:
    if learning is None:
        return []
    picks = sorted({0, 1, 2, 5, 10, 20, 50, len(learning) - 1} & set(range(len(learning))))
    table = learning.loc[picks, ["round", "effort_gap", "firm_profit"]].to_string(
        index=False, formatters={"effort_gap": "{:.2e}".format})
    return ["", "The static market in rounds: a firm learning per-creator prices by tatonnement,",
            "gap = max |e - e^M| / max e^M:", table]


def default_market() -> InformationMarket:
    """The market ``abm static`` solves when given no loadings."""
    return InformationMarket(np.array(DEFAULT_BETA))


def scenario_population(scenario, creators: int, seed: int = 0) -> InformationMarket:
    """The static market of a dynamic scenario's population: ``creators`` creators of each type,
    each with its loading drawn from its type's (possibly distributed) loading, as the agents draw
    them; ``sigma2`` is the scenario's ``sigma0_sq`` (the static market has no recursive bias)
    and ``value`` its ``v``.

    Raises
    ------
    ValueError
        If the types' effort costs differ or are distributed: the static market has one cost.
    """
    from abm.theory.heterogeneity import characteristic_from_value

    market = scenario.market
    costs = {t.cost for t in market.types}
    if len(costs) != 1 or not isinstance(next(iter(costs)), float):
        raise ValueError("--scenario: the static market has one effort cost for every creator; this scenario's "
                         f"costs differ or are distributed ({[t.cost for t in market.types]})")
    rng = np.random.default_rng(seed)
    beta = np.concatenate([characteristic_from_value(t.beta, "beta").draw(creators, rng, scenario.simulation.sampling)
                           for t in market.types])
    return InformationMarket(beta, cost=next(iter(costs)), sigma2=max(market.sigma0_sq, 1e-12), value=market.value)


def add_arguments(parser) -> None:
    """Arguments of ``abm static``."""
    parser.add_argument("--beta", type=float, nargs="+", help="loadings beta_i (default: the embedded 12-creator market)")
    parser.add_argument("--scenario", default=None,
                        help="draw the creators from a dynamic scenario's population instead (a file or shipped name)")
    parser.add_argument("--creators", type=int, default=50, help="creators of each type drawn with --scenario")
    parser.add_argument("--cost", type=float, default=1.0, help="effort cost coefficient c")
    parser.add_argument("--sigma2", type=float, default=1.0, help="prior variance of the common factor")
    parser.add_argument("--value", type=float, default=1.0, help="value v of one unit of precision")
    parser.add_argument("--rounds", type=int, default=200,
                        help="rounds of the learning firm's tatonnement (0 to skip)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the learning firm's initial prices (default 0)")
    parser.add_argument("--out", type=Path, default=Path("results/static"), help="output directory")


def run(args) -> int:
    """Solve the market, print the report and write it."""
    if args.scenario is not None:
        from abm.scenario import resolve_scenario

        if args.beta:
            raise ValueError("--beta and --scenario both set the loadings: give one")
        if args.creators < 1:
            raise ValueError(f"--creators must be >= 1, got {args.creators}")
        market = scenario_population(resolve_scenario(args.scenario), args.creators, args.seed or 0)
    else:
        beta = np.array(args.beta if args.beta else DEFAULT_BETA)
        market = InformationMarket(beta, cost=args.cost, sigma2=args.sigma2, value=args.value)
    if args.rounds < 0:
        raise ValueError(f"--rounds must be >= 0, got {args.rounds}")
    if args.rounds > MAX_ROUNDS:
        raise ValueError(f"--rounds must be at most {MAX_ROUNDS} (the learning firm keeps one table row per round), "
                         f"got {args.rounds}")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if args.seed is not None and args.rounds == 0:
        raise ValueError("--seed seeds the learning firm's rounds: not used with --rounds 0")
    from abm.storage import output_dir

    out = output_dir(args.out)
    report = static_report(market, rounds=args.rounds, seed=args.seed or 0)
    print(format_static_report(report))
    paths = write_static_report(report, out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0
