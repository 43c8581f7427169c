"""``abm validate``: every emergent-vs-analytic check, with its numbers, in one report.

Each check returns a :class:`Check`: what theory predicts, what the agents (or the
numerics) did, the distance between them, the tolerance and where it comes from, and
pass or fail. Failures are reported like passes, never dropped. The measurement
functions here are also what the slow tests assert on, so the report and the test suite
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["Check", "population_convergence", "round_length_convergence", "run_checks", "write_report"]


@dataclass(frozen=True)
class Check:
    """One emergent-vs-analytic comparison."""

    name: str
    theory: str
    observed: str
    distance: float
    tolerance: float
    tolerance_source: str
    passed: bool
    figure: str | None = None
    details: dict = field(default_factory=dict)


def _check(name, theory, observed, distance, tolerance, source, figure=None, **details) -> Check:
    return Check(name, theory, observed, float(distance), float(tolerance), source,
                 bool(np.isfinite(distance) and distance <= tolerance), figure, details)


# --- measurements shared with the tests ---------------------------------------------------------

STATE = ["precision", "stock_innovators", "stock_rank_and_file"]


def population_convergence(market, populations=(1000, 4000, 16000, 64000), replications=8, horizon=20.0,
                           dt=0.1, seed=10_000) -> dict:
    """Sup-distance of agents to the fluid limit in rounds, by population; fitted log-log slopes.

    Returns a dict with the per-run ``table`` and, for the state and the price, the OLS slope
    of log distance on log N and its standard error.
    """
    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.simulation.run import sup_distances
    from abm.scenario import Scenario, Simulation
    from abm.theory.fluid import fluid_rounds

    reference = fluid_rounds(market, dt, int(round(horizon / dt)))
    rows = []
    for n_agents in populations:
        for replication in range(replications):
            scenario = Scenario(name="convergence", description="convergence check", market=market,
                                simulation=Simulation(horizon=horizon, dt=dt, agents=n_agents))
            run = DataMarketModel(scenario, rng=seed + replication).run()
            gaps = sup_distances(run, reference, columns=STATE + ["price"])
            rows.append({"agents": n_agents, "replication": replication, "state": max(gaps[c] for c in STATE),
                         "price": gaps["price"]})
    table = pd.DataFrame(rows)
    fits = {column: stats.linregress(np.log(table["agents"]), np.log(table[column])) for column in ("state", "price")}
    return {"table": table, **{f"{c}_slope": f.slope for c, f in fits.items()},
            **{f"{c}_stderr": f.stderr for c, f in fits.items()}}


def round_length_convergence(market, steps=(0.05, 0.025, 0.0125, 0.00625), horizon=10.0, every=0.5) -> dict:
    """Sup error of the fluid limit in rounds against the ODE, by round length; fitted slope."""
    from abm.theory.fluid import fluid_rounds, solve_fluid

    ode = solve_fluid(market, horizon, times=np.arange(0.0, horizon, every), rtol=1e-10, atol=1e-12)
    errors = []
    for dt in steps:
        rounds = fluid_rounds(market, dt, int(round(horizon / dt))).iloc[:: int(round(every / dt))]
        errors.append(max(np.max(np.abs(rounds[c].to_numpy() - ode[c].to_numpy())) for c in STATE))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    return {"steps": np.array(steps), "errors": np.array(errors), "slope": float(slope)}


# --- the checks -----------------------------------------------------------------------------------


def _static_checks(rng) -> list[Check]:
    from abm.simulation.static_market.model import learn_static_prices
    from abm.theory.static import (
        InformationMarket, effective_precision, gls_estimate, marginal_precision, originality_penalty,
        simulate_signals, social_optimum, stackelberg,
    )

    gaps = []
    for _ in range(5):
        n = int(rng.integers(2, 12))
        market = InformationMarket(rng.uniform(0, 1.5, n), cost=rng.uniform(0.5, 2), sigma2=rng.uniform(0.3, 3))
        for weight, solver in ((1.0, stackelberg), (0.5, social_optimum)):
            def negative(e, w=weight, m=market):
                value = m.value * effective_precision(m, e) - w * m.cost * e @ e
                return -value, -(m.value * marginal_precision(m, e) - 2 * w * m.cost * e)

            direct = optimize.minimize(negative, np.full(n, 0.3), jac=True, method="L-BFGS-B",
                                       bounds=[(0, None)] * n, options={"ftol": 1e-15, "gtol": 1e-12}).x
            gaps.append(np.max(np.abs(direct - solver(market).effort)))
    checks = [_check("static equilibria (Lemma 10)", "the lambda fixed point gives the maximisers of profit and welfare",
                     "L-BFGS-B over all n efforts, 5 random markets", max(gaps), 1e-5,
                     "the optimiser's own tolerance (gtol 1e-12 on O(1) gradients)")]
    market = InformationMarket(np.append(rng.uniform(0, 1.5, 20), 0.0))
    checks.append(_check("originality penalty at beta = 0 (Prop. 4)", "e^M/e^S = 1/2 exactly for an innovator",
                         f"ratio {originality_penalty(market)[-1]:.17g}", abs(originality_penalty(market)[-1] - 0.5), 1e-12,
                         "floating-point rounding"))
    ratio = originality_penalty(InformationMarket(np.full(10**5, 0.8)))[0]
    checks.append(_check("homogeneous limit (Prop. 4)", "r = 0.790 at n = 1e5, beta = 0.8 (paper), 2^(-1/3) in the limit",
                         f"r = {ratio:.5f}", abs(ratio - 0.790), 5e-4, "the paper states three decimals"))
    learning = learn_static_prices(InformationMarket(rng.uniform(0, 1.2, 15)), 300, rng=1)
    checks.append(_check("learning firm in the static market", "tatonnement settles at the Stackelberg efforts",
                         f"gap after {len(learning)} rounds", learning["effort_gap"].iloc[-1], 1e-8,
                         "geometric convergence: 1e-8 well before 300 rounds"))
    market = InformationMarket([0.0, 0.2, 0.6, 0.9, 1.2], sigma2=1.5, common_mean=0.4)
    effort = stackelberg(market).effort
    draws = 200_000
    sample = simulate_signals(market, effort, draws, rng)
    mse = float(np.mean((gls_estimate(market, effort, sample.signals) - sample.theta) ** 2))
    expected = 1 / effective_precision(market, effort)
    checks.append(_check("GLS error (Lemma 11)", f"MSE = 1/P = {expected:.5f}", f"Monte Carlo MSE {mse:.5f} ({draws} draws)",
                         abs(mse - expected), 4 * expected * np.sqrt(2 / draws),
                         "4 standard deviations of a mean of chi-square(1) errors"))
    return checks


def _dynamic_checks(out: Path, quick: bool) -> list[Check]:
    import dataclasses

    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.scenario import Scenario, Simulation, default_scenario
    from abm.theory.fluid import CreatorType, precision_barrier
    from abm.theory.supply import PointMass
    from analysis.plots import new_axes

    market = default_scenario().market
    checks = []
    populations = (1000, 4000, 16000) if quick else (1000, 4000, 16000, 64000)
    convergence = population_convergence(market, populations=populations, replications=4 if quick else 8)
    table = convergence["table"]
    fig, axes = new_axes(2)
    for ax, column in zip(axes, ("state", "price")):
        ax.loglog(table["agents"], table[column], "o", alpha=0.5)
        means = table.groupby("agents")[column].mean()
        ax.loglog(means.index, means.to_numpy(), "-", label=f"slope {convergence[column + '_slope']:.2f}")
        ax.set_xlabel("agents per type")
        ax.set_ylabel(f"sup |agents - fluid| ({column})")
        ax.legend()
    fig.savefig(out / "convergence_population.png", dpi=110)
    state_slope, state_error = convergence["state_slope"], convergence["state_stderr"]
    outside = max(0.0, -0.5 - state_slope, state_slope + 1 / 3)
    checks.append(_check("agents vs fluid limit, by population (state)",
                         "exponent between -1/2 and -1/3 (cube-root argmax, averaged by the stocks)",
                         f"fitted exponent {state_slope:.3f} +- {state_error:.3f} ({len(table)} runs)",
                         outside, 3 * state_error, "3 standard errors of the fitted slope",
                         "convergence_population.png"))
    price_slope, price_error = convergence["price_slope"], convergence["price_stderr"]
    checks.append(_check("agents vs fluid limit, by population (price)", "exponent -1/3 (argmax of a noisy objective)",
                         f"fitted exponent {price_slope:.3f} +- {price_error:.3f}", abs(price_slope + 1 / 3),
                         3 * price_error, "3 standard errors of the fitted slope", "convergence_population.png"))
    rounds = round_length_convergence(market)
    fig, axes = new_axes(1)
    axes[0].loglog(rounds["steps"], rounds["errors"], "o-", label=f"slope {rounds['slope']:.2f}")
    axes[0].set_xlabel("round length dt")
    axes[0].set_ylabel("sup |rounds - ODE| (state)")
    axes[0].legend()
    fig.savefig(out / "convergence_dt.png", dpi=110)
    checks.append(_check("fluid rounds vs ODE, by round length", "first order: error proportional to dt",
                         f"fitted exponent {rounds['slope']:.3f}", abs(rounds["slope"] - 1.0), 0.2,
                         "pre-asymptotic curvature over four halvings", "convergence_dt.png"))

    run = DataMarketModel(Scenario(name="cap", description="Prop. 5 check", market=market,
                                   simulation=Simulation(horizon=100.0, dt=0.1, agents=2000)), rng=0).run()
    excess = float(np.max(run["price"] - run["price_cap"]))
    checks.append(_check("price cap (Prop. 5)", "every round's price <= p_bar(g_t)",
                         f"largest price - cap over {len(run)} rounds: {excess:.3g}", max(excess, 0.0),
                         1e-12 * float(run["price_cap"].max()), "floating-point rounding"))
    priced_out = dataclasses.replace(market, depreciation=0.0,
                                     innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PointMass(1.0)))
    barrier = precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta)
    run = DataMarketModel(Scenario(name="barrier", description="Prop. 6 check", market=priced_out,
                                   simulation=Simulation(horizon=2e5, dt=1000.0, agents=200)), rng=0).run()
    final = float(run["precision"].iloc[-1])
    checks.append(_check("precision barrier (Prop. 6)", f"P -> P_bar = {barrier:.5f} with innovators priced out",
                         f"P = {final:.5f} after X_C = {run['stock_rank_and_file'].iloc[-1]:.0f}",
                         barrier - final if final <= barrier else np.inf, 1e-3 * barrier,
                         "P_bar - P(X_C) = O(1/X_C); 1e-3 relative once X_C is in the thousands"))
    return checks


def _mechanism_checks(rng) -> list[Check]:
    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.scenario import default_scenario
    from abm.theory.mechanism import two_part_tariff
    from abm.theory.static import InformationMarket

    worst_balance, worst_ir = 0.0, 0.0
    for _ in range(50):
        market = InformationMarket(rng.uniform(0, 1.5, int(rng.integers(2, 15))), cost=rng.uniform(0.5, 2))
        result = two_part_tariff(market, 0.01, 0.01, 0.001, rng.uniform())
        if result.feasible:
            worst_balance = max(worst_balance, abs(result.intermediary_balance))
            worst_ir = max(worst_ir, float(np.max(0.001 - result.creator_utility)))
    checks = [_check("two-part tariff BB (Prop. 9)", "the intermediary nets exactly 0",
                     "largest |balance| over 50 random markets", worst_balance, 1e-12, "floating-point rounding"),
              _check("two-part tariff IR (Prop. 9)", "every creator gets at least u0",
                     "largest shortfall below u0 over 50 random markets", max(worst_ir, 0.0), 1e-12,
                     "floating-point rounding")]
    model = DataMarketModel(default_scenario().with_simulation(agents=1000, horizon=50.0, dt=0.1)
                            .with_regime("intermediary"), rng=0)
    run = model.run()
    checks.append(_check("dynamic intermediary BB (this project's extension)", "budget balances in every round",
                         f"largest |balance| over {len(run)} rounds", float(run["intermediary_balance"].abs().max()),
                         1e-12, "floating-point rounding"))
    return checks


def run_checks(out, quick: bool = False, seed: int = 2026, progress: bool = False) -> list[Check]:
    """Run every check, writing its figures into ``out``; ``progress`` shows a bar over the groups."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = [("static market", lambda: _static_checks(rng)), ("dynamic market", lambda: _dynamic_checks(out, quick)),
              ("mechanisms", lambda: _mechanism_checks(rng)),
              ("procurement", lambda: _procurement_checks(rng, draws=50 if quick else 200))]
    if progress:
        from tqdm.auto import tqdm

        groups = tqdm(groups, desc="validate", unit="group")
    checks = []
    for name, group in groups:
        if progress:
            groups.set_postfix_str(name)
        checks += group()
    return checks


def _procurement_checks(rng, draws: int) -> list[Check]:
    from abm.theory.procurement import evaluate_mechanisms, sample_table1_market

    market = sample_table1_market(3)
    outcomes = evaluate_mechanisms(market, market.sample_costs(draws, rng))
    rev = {n: o.revenue for n, o in outcomes.items()}
    sw = {n: o.welfare for n, o in outcomes.items()}
    per_draw = max(float(np.max(rev["M4"] - rev["M2"])), float(np.max(np.abs(rev["M4"] - rev["M5"]))),
                   float(np.max(rev["M6"] - rev["M5"])), float(np.max(np.abs(sw["M2"] - sw["M4"]))),
                   float(np.max(sw["M1"] - sw["M2"])), 0.0)
    checks = [_check("procurement rankings per draw (Thms 2.4, 3.3)",
                     "Rev2 >= Rev4 = Rev5 >= Rev6, SW2 = SW4 >= SW1 in every draw",
                     f"largest violation over {draws} draws of the Table 1 market", per_draw,
                     1e-7 * float(np.abs(rev["M4"]).max()), "allocation accuracy (1e-9 relative) times payments")]
    for label, better, worse in (("Rev1 >= Rev2", rev["M1"], rev["M2"]), ("SW6 >= SW5", sw["M6"], sw["M5"])):
        difference = better - worse
        error = float(difference.std(ddof=1) / np.sqrt(draws))
        checks.append(_check(f"procurement {label} in expectation", f"{label} (expectations only)",
                             f"mean difference {difference.mean():.4g} +- {error:.2g}",
                             max(0.0, -float(difference.mean())), 4 * error,
                             "4 standard errors of the mean difference"))
    return checks


def write_report(checks: list[Check], out, seed: int, quick: bool) -> Path:
    """Write ``report.md`` (and ``checks.csv``): one row per check and a figure per section."""
    from abm.storage import versions

    out = Path(out)
    rows = pd.DataFrame([{k: v for k, v in c.__dict__.items() if k != "details"} for c in checks])
    rows.to_csv(out / "checks.csv", index=False)
    lines = ["# Validation report", "",
             f"Seed {seed}{' (quick)' if quick else ''}; versions: "
             + ", ".join(f"{k} {v}" for k, v in versions().items()), "",
             "| check | theory | observed | distance | tolerance | tolerance from | result |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        result = "skipped" if c.details.get("skipped") else ("pass" if c.passed else "**FAIL**")
        lines.append(f"| {c.name} | {c.theory} | {c.observed} | {c.distance:.3g} | {c.tolerance:.3g} | "
                     f"{c.tolerance_source} | {result} |")
    lines += ["", f"{sum(c.passed for c in checks)} of {len(checks)} checks pass.", ""]
    for figure in dict.fromkeys(c.figure for c in checks if c.figure):
        lines += [f"![{figure}]({figure})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
