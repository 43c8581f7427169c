"""``abm validate``: every emergent-vs-analytic check and every departure, in one report.

Each check returns a :class:`Check`: what theory predicts, what the agents (or the
numerics) did, the distance between them, the tolerance and where it comes from, pass or
fail, and its **kind**:

- ``"theorem checked numerically"``: a proposition of the papers (or a derived rate) is
  tested on numbers computed independently of the code that implements it (a direct
  optimiser, a quadrature, a Monte Carlo sample, per-party sums of booked transfers);
- ``"emergent comparison"``: the agents' behaviour is compared with a prediction the agents
  were not programmed with (rates of convergence, a price the firm chooses);
- ``"identity"``: both sides come from the same formula or the same call, so the check
  cannot fail. Identities are shown for information and never counted as tests.

Tolerances are fixed before the numbers are looked at: by floating-point or optimiser
accuracy, by a Monte Carlo or regression standard error, or by the leading error term of a
derivation; the report says which for each check.

:func:`run_departures` measures, with replications and 95% confidence intervals, every
place the agents part from the theory (finite populations, the learning firm, the firm's
participation) and which way. Departures are reported, never passed or failed.

The measurement functions here are also what the slow tests assert on, so the report and
the test suite cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

__all__ = ["Check", "Departure", "IDENTITY", "THEOREM", "EMERGENT", "KINDS", "STATE", "population_convergence",
           "round_length_convergence", "finite_population_bias", "learning_firm_regret", "run_checks",
           "run_departures", "write_report", "behaviour_convergence", "BEHAVIOUR_EXPONENTS",
           "SLOWEST_EXPONENT"]

IDENTITY = "identity"
THEOREM = "theorem checked numerically"
EMERGENT = "emergent comparison"
#: The kinds of check, in the order the report lists them.
KINDS = (THEOREM, EMERGENT, IDENTITY)


@dataclass(frozen=True)
class Check:
    """One emergent-vs-analytic comparison (see the module docstring for ``kind``)."""

    name: str
    theory: str
    observed: str
    distance: float
    tolerance: float
    tolerance_source: str
    passed: bool
    figure: str | None = None
    details: dict = field(default_factory=dict)
    kind: str = THEOREM

    @property
    def counted(self) -> bool:
        """Whether the check is a test (identities and skipped checks are not)."""
        return self.kind != IDENTITY and not self.details.get("skipped")


@dataclass(frozen=True)
class Departure:
    """Where the agents part from the theory: a relative difference with its 95% CI.

    ``relative`` is ``(agents - reference) / |reference|`` averaged over replications;
    ``direction`` says in words which way the agents go.
    """

    name: str
    quantity: str
    reference: str
    reference_value: float
    agents_value: float
    relative: float
    low: float
    high: float
    replications: int
    direction: str
    note: str = ""


def _check(name, theory, observed, distance, tolerance, source, figure=None, kind=THEOREM, **details) -> Check:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return Check(name, theory, observed, float(distance), float(tolerance), source,
                 bool(np.isfinite(distance) and distance <= tolerance), figure, details, kind)


def _t95(dof: int) -> float:
    """Two-sided 95% Student-t quantile."""
    return float(stats.t.ppf(0.975, max(int(dof), 1)))


# --- measurements shared with the tests ---------------------------------------------------------

STATE = ["precision", "stock_innovators", "stock_rank_and_file"]


def population_convergence(market, populations=(1000, 4000, 16000, 64000), replications=8, horizon=20.0,
                           dt=0.1, seed=10_000) -> dict:
    """Sup-distance of agents to the fluid limit in rounds, by population; fitted log-log slopes.

    Returns a dict with the per-run ``table`` and, for the state and the price, the OLS slope
    of log distance on log N, its standard error and the residual degrees of freedom.
    """
    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.simulation.run import sup_distances
    from abm.scenario import Scenario, Simulation
    from abm.theory.fluid import RoundLengthWarning, fluid_rounds

    with warnings.catch_warnings():  # agents and reference share the rounds: the ODE is not the reference
        warnings.simplefilter("ignore", RoundLengthWarning)
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
            **{f"{c}_stderr": f.stderr for c, f in fits.items()}, "dof": len(table) - 2}


def round_length_convergence(market, steps=(0.05, 0.025, 0.0125, 0.00625), horizon=10.0, every=0.5) -> dict:
    """Sup error of the fluid limit in rounds against the ODE, by round length.

    Returns the ``steps``, the ``errors``, the OLS ``slope`` over all steps and the
    ``local`` exponents ``log2(e(h) / e(h/2))`` of successive halvings.
    """
    from abm.theory.fluid import fluid_rounds, solve_fluid

    ode = solve_fluid(market, horizon, times=np.arange(0.0, horizon, every), rtol=1e-10, atol=1e-12)
    errors = []
    for dt in steps:
        rounds = fluid_rounds(market, dt, int(round(horizon / dt))).iloc[:: int(round(every / dt))]
        errors.append(max(np.max(np.abs(rounds[c].to_numpy() - ode[c].to_numpy())) for c in STATE))
    errors = np.array(errors)
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    local = np.log(errors[:-1] / errors[1:]) / np.log(np.array(steps[:-1]) / np.array(steps[1:]))
    return {"steps": np.array(steps), "errors": errors, "slope": float(slope), "local": local}


def finite_population_bias(scenario, populations, replications: int, seed: int,
                           quantities=("innovator_participation_final", "price_final", "precision_final"),
                           **overrides) -> pd.DataFrame:
    """Relative bias of the agents' final values against the fluid limit, by population.

    For each population ``N`` (agents per type) the scenario is replicated
    (:func:`abm.simulation.run.replicate`, seeds from ``seed``); per replication the
    relative difference ``(agents - fluid) / fluid`` of each quantity, then its mean and
    95% confidence interval over replications.
    """
    from abm.simulation.run import confidence_interval, replicate

    rows = []
    for n_agents in populations:
        table = replicate(scenario, replications, seed=seed, agents=n_agents, **overrides).summaries()
        for quantity in quantities:
            agents, fluid = table[quantity].to_numpy(), table[f"{quantity}_fluid"].to_numpy()
            mean, low, high = confidence_interval((agents - fluid) / np.abs(fluid))
            rows.append({"quantity": quantity, "agents": n_agents, "fluid": float(fluid[0]),
                         "agents_mean": float(agents.mean()), "relative": mean, "low": low, "high": high,
                         "replications": replications})
    return pd.DataFrame(rows)


def learning_firm_regret(replications: int, seed: int, **overrides) -> dict:
    """The learning firm against the myopic firm on the same agents (paired seeds).

    Runs ``learning_firm`` and the same market with the myopic firm on identical seeds
    (the firm's behaviour draws nothing, so both face the same creators). Per pair:

    - ``surplus_regret``: relative shortfall of cumulative trade surplus,
      ``(TS_myopic - TS_learning) / TS_myopic``;
    - ``profit_regret``: shortfall of the firm's cumulative trade profit relative to the
      myopic firm's, ``(FP_myopic - FP_learning) / |FP_myopic|``;
    - ``price_gap``: relative gap of the mean price over the second half of the horizon,
      ``(p_learning - p_myopic) / p_myopic`` (pairs of probes average out);
    - ``loss_rounds``: the share of rounds in which the learning firm's trades lose money.

    Returns a dict of arrays (one entry per pair) and the seeds.
    """
    from abm.simulation.run import replicate, summarise

    learning = replicate("learning_firm", replications, seed=seed, **overrides)
    myopic = replicate("learning_firm", replications, seed=seed, firm="myopic", **overrides)
    out = {key: [] for key in ("surplus_regret", "profit_regret", "price_gap", "loss_rounds",
                               "late_price_learning", "late_price_myopic", "loss_rounds_myopic")}
    for learned, known in zip(learning.results, myopic.results):
        s_l, s_m = summarise(learned), summarise(known)
        out["surplus_regret"].append((s_m["trade_surplus_cumulative"] - s_l["trade_surplus_cumulative"])
                                     / abs(s_m["trade_surplus_cumulative"]))
        out["profit_regret"].append((s_m["firm_trade_profit_cumulative"] - s_l["firm_trade_profit_cumulative"])
                                    / abs(s_m["firm_trade_profit_cumulative"]))
        half = learned.scenario.simulation.horizon / 2
        late_l = learned.agents.loc[learned.agents["time"] >= half, "price"].mean()
        late_m = known.agents.loc[known.agents["time"] >= half, "price"].mean()
        out["late_price_learning"].append(late_l)
        out["late_price_myopic"].append(late_m)
        out["price_gap"].append((late_l - late_m) / late_m)
        for run, key in ((learned, "loss_rounds"), (known, "loss_rounds_myopic")):
            agents = run.agents
            trade_profit = agents["firm_profit"] + agents["trade_surplus"] - agents["welfare"]
            out[key].append(float((trade_profit < -1e-12).mean()))
    return {**{k: np.array(v) for k, v in out.items()}, "seeds": learning.seeds}


# --- independent computations used by the checks ----------------------------------------------------


def _direct_optimum(market, weight: float) -> np.ndarray:
    """Maximise ``v P(e) - weight c e.e`` over all efforts with L-BFGS-B (no lambda fixed point):
    ``weight = 1`` is the Stackelberg firm's profit, ``1/2`` welfare."""
    from abm.theory.static import effective_precision, marginal_precision

    n = market.n_creators

    def negative(e):
        value = market.value * effective_precision(market, e) - weight * market.cost * e @ e
        return -value, -(market.value * marginal_precision(market, e) - 2 * weight * market.cost * e)

    return optimize.minimize(negative, np.full(n, 0.3), jac=True, method="L-BFGS-B", bounds=[(0, None)] * n,
                             options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000}).x


def _welfare(market, effort) -> float:
    from abm.theory.static import effective_precision

    return market.value * effective_precision(market, effort) - 0.5 * market.cost * float(effort @ effort)


def _quadrature_shares(market, effort) -> np.ndarray:
    """Aumann-Shapley shares by adaptive quadrature of finite-difference gradients of welfare
    along the ray from 0 to ``effort`` (independent of the closed-form lambda integrals)."""
    welfare = _welfare(market, effort)
    shares = np.empty(len(effort))
    for i in range(len(effort)):
        def partial(s, i=i):
            point = s * effort
            h = 1e-6 * max(1.0, point[i])
            up, down = point.copy(), point.copy()
            up[i] += h
            down[i] = max(down[i] - h, 0.0)
            return (_welfare(market, up) - _welfare(market, down)) / (up[i] - down[i])

        shares[i] = effort[i] * integrate.quad(partial, 0.0, 1.0, epsabs=1e-11, epsrel=1e-10, limit=200)[0] / welfare
    return shares


def _golden_max(function, low, high, iterations: int = 90):
    """Vectorised golden-section search for the maximiser of a concave ``function`` on ``[low, high]``."""
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = np.array(low, dtype=float), np.array(high, dtype=float)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = function(c), function(d)
    for _ in range(iterations):
        left = fc > fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        c_new, d_new = b - ratio * (b - a), a + ratio * (b - a)
        c, d = c_new, d_new
        fc, fd = function(c), function(d)
    return 0.5 * (a + b)


# --- the checks -----------------------------------------------------------------------------------


def _static_checks(rng) -> list[Check]:
    from abm.simulation.static_market.model import learn_static_prices
    from abm.theory.static import (
        InformationMarket, effective_precision, gls_estimate, originality_penalty, simulate_signals, social_optimum,
        stackelberg,
    )

    gaps, penalty_gaps = [], []
    for _ in range(5):
        n = int(rng.integers(2, 12))
        beta = np.append(rng.uniform(0, 1.5, n - 1), 0.0)  # the last creator is an innovator
        market = InformationMarket(beta, cost=rng.uniform(0.5, 2), sigma2=rng.uniform(0.3, 3))
        direct = {}
        for weight, solver in ((1.0, stackelberg), (0.5, social_optimum)):
            direct[weight] = _direct_optimum(market, weight)
            gaps.append(np.max(np.abs(direct[weight] - solver(market).effort)))
        penalty_gaps.append(abs(direct[1.0][-1] / direct[0.5][-1] - 0.5))
    checks = [_check("static equilibria (Lemma 10)", "the lambda fixed point gives the maximisers of profit and welfare",
                     "L-BFGS-B over all n efforts, 5 random markets", max(gaps), 1e-5,
                     "the optimiser's own tolerance (gtol 1e-12 on O(1) gradients)"),
              _check("originality penalty at beta = 0 (Prop. 4)", "e^M/e^S = 1/2 for an innovator",
                     "ratio of the innovator's efforts maximising profit and welfare directly (L-BFGS-B, "
                     f"5 random markets): largest |ratio - 1/2| = {max(penalty_gaps):.2g}",
                     max(penalty_gaps), 1e-5, "the optimiser's tolerance on O(1) efforts")]
    market = InformationMarket(np.append(rng.uniform(0, 1.5, 20), 0.0))
    code_ratio = float(originality_penalty(market)[-1])
    checks.append(_check("originality penalty at beta = 0, closed form", "e^M/e^S = 1/2",
                         f"ratio {code_ratio:.17g}: v/(2c) over v/c in one expression", abs(code_ratio - 0.5), 1e-12,
                         "floating-point rounding", kind=IDENTITY))
    ratio = originality_penalty(InformationMarket(np.full(10**5, 0.8)))[0]
    checks.append(_check("homogeneous limit (Prop. 4)", "r = 0.790 at n = 1e5, beta = 0.8 (the market-design paper)",
                         f"r = {ratio:.5f}", abs(ratio - 0.790), 5e-4, "the paper states three decimals"))
    learning = learn_static_prices(InformationMarket(rng.uniform(0, 1.2, 15)), 300, rng=1)
    checks.append(_check("learning firm in the static market", "tatonnement settles at the Stackelberg efforts",
                         f"gap after {len(learning)} rounds", learning["effort_gap"].iloc[-1], 1e-8,
                         "geometric convergence: 1e-8 well before 300 rounds", kind=EMERGENT))
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


def _convergence_figure(out: Path, convergence: dict, exponents: dict, rounds: dict) -> None:
    from analysis.plots import plot_convergence

    plot_convergence(convergence["table"], exponents, rounds).savefig(out / "convergence_population.png", dpi=130)


def _dynamic_checks(out: Path, quick: bool) -> list[Check]:
    from abm.scenario import default_scenario

    market = default_scenario().market
    checks = []
    populations = (1000, 4000, 16000) if quick else (1000, 4000, 16000, 64000)
    convergence = population_convergence(market, populations=populations, replications=4 if quick else 8)
    rounds = round_length_convergence(market)
    # Exponents derived in docs/validation.md before any run was fitted: the price is the argmax
    # of a smooth profit plus an empirical-process error (cube-root asymptotics, -1/3); the stocks
    # integrate inflow errors whose argmax part decorrelates as the price sweeps the transient,
    # leaving the N^(-1/2) of the empirical supply curve.
    exponents = {"state": -0.5, "price": -1.0 / 3.0}
    _convergence_figure(out, convergence, exponents, rounds)
    quantile = _t95(convergence["dof"])
    runs = len(convergence["table"])
    for column, derivation in (("state", "-1/2: empirical supply error N^(-1/2), argmax part averages out"),
                               ("price", "-1/3: argmax of a noisy objective (cube-root asymptotics)")):
        slope, error = convergence[f"{column}_slope"], convergence[f"{column}_stderr"]
        checks.append(_check(
            f"agents vs fluid limit, by population ({column})", f"exponent {derivation}",
            f"fitted exponent {slope:.3f} +- {error:.3f} (s.e., {runs} runs, N = "
            f"{', '.join(f'{n:,}' for n in populations)})",
            abs(slope - exponents[column]), quantile * error,
            f"95% confidence half-width of the fitted slope (t quantile {quantile:.2f} times its s.e.)",
            "convergence_population.png", kind=EMERGENT))
    local = rounds["local"]
    checks.append(_check(
        "fluid rounds vs ODE, by round length", "first order: local exponent log2(e(h)/e(h/2)) = 1 + O(h)",
        "local exponents " + ", ".join(f"{x:.4f}" for x in local) + f" (OLS over all: {rounds['slope']:.3f})",
        abs(local[-1] - 1.0), 0.75 * abs(local[-2] - 1.0),
        "an O(h) deviation halves with each halving of h: the finest exponent must be within 3/4 of the "
        "previous one's deviation", "convergence_population.png"))
    checks += _price_cap_checks(quick)
    checks.append(_barrier_check(quick))
    return checks


def _price_cap_checks(quick: bool) -> list[Check]:
    from abm.simulation.run import simulate

    checks = []
    for name in ("curse_of_precision", "price_trap"):
        overrides = {"agents": 1000} if quick else {"agents": 2000}
        result = simulate(name, seed=0, fluid=False, **overrides)
        run = result.agents
        excess = float(np.max(run["price"] - run["price_cap"]))
        last = run.iloc[-1]
        checks.append(_check(
            f"price cap (Prop. 5), {name}", "every round's price <= p_bar(g_t), the root of p(1+R) = v(1+gR)",
            f"largest price - cap over {len(run)} rounds: {excess:.3g}; at the end g = {last['discount']:.4f}, "
            f"price {last['price']:.4f}, cap {last['price_cap']:.4f}, trap {last['price_trap']:.4f}",
            max(excess, 0.0), 1e-12 * float(run["price_cap"].max()),
            "floating-point rounding (the price is the firm's argmax, the cap an independent root)", kind=EMERGENT))
    return checks


def _barrier_check(quick: bool) -> Check:
    """Prop. 6 with innovators present at entry prices the firm could afford, but priced out.

    ``precision_barrier.toml``: innovators' entry prices (0.5 to 1) lie below the value
    ``v m_O`` of their data in every round, yet the myopic firm's uniform price, which it must
    pay the elastic rank-and-file too, never reaches them. With ``X_O = 0`` Prop. 6's fixed
    point is ``f(P) = 1/P - kappa beta_C^2 P - sigma0^2 beta_C^2 = 1 / X_C`` with
    ``f(P_bar) = 0``; ``f`` is convex and decreasing, so
    ``P_bar - P <= 1 / (X_C |f'(P_bar)|) = 1 / (X_C (1/P_bar^2 + kappa beta_C^2))`` exactly:
    precision stays below the barrier and approaches it at least as fast as ``1 / X_C``.
    """
    from abm.simulation.run import simulate
    from abm.theory.fluid import precision_barrier

    result = simulate("precision_barrier", seed=0, fluid=False, agents=300 if quick else 1000)
    run, market = result.agents, result.scenario.market
    innovators = market.innovators
    lowest_entry = float(np.sqrt(2 * innovators.cost * innovators.outside_option.ppf(0.0)))
    barrier = precision_barrier(market.sigma0_sq, market.kappa, market.rank_and_file.beta)
    stocks = run["stock_rank_and_file"].to_numpy()
    bound = 1.0 / (stocks * (1.0 / barrier**2 + market.kappa * market.rank_and_file.beta**2))
    gaps = barrier - run["precision"].to_numpy()
    affordable = float((market.value * run["marginal_value_innovators"] - lowest_entry).min())
    priced_out = float(run["active_innovators"].max()) == 0.0 and float(run["price"].max()) < lowest_entry
    excess = float(np.max(gaps - bound))
    distance = max(excess, 0.0) if (priced_out and affordable > 0 and (gaps > 0).all()) else np.inf
    last = run.iloc[-1]
    return _check(
        "precision barrier (Prop. 6), innovators priced out by the market",
        f"0 < P_bar - P <= 1/(X_C (1/P_bar^2 + kappa beta_C^2)) in every round, P_bar = {barrier:.5f}",
        f"innovators' lowest entry price {lowest_entry:.2f} < v m_O in every round (by at least {affordable:.3f}), "
        f"highest price {run['price'].max():.3f}, no innovator ever active; P from {run['precision'].iloc[0]:.3f} "
        f"to {last['precision']:.4f} as X_C grows to {last['stock_rank_and_file']:.2f} (bound on the final gap "
        f"{bound[-1]:.3f}, gap {gaps[-1]:.3f})",
        distance, 1e-12 * barrier, "floating-point rounding (the bound is exact by convexity)", kind=EMERGENT)


def _mechanism_checks(rng, quick: bool) -> list[Check]:
    from abm.theory.mechanism import two_part_tariff
    from abm.theory.static import InformationMarket

    worst = {"balance": 0.0, "base": 0.0, "ir": 0.0, "ic": 0.0, "identity": 0.0}
    markets = 10 if quick else 25
    for _ in range(markets):
        market = InformationMarket(rng.uniform(0, 1.5, int(rng.integers(2, 8))), cost=rng.uniform(0.5, 2))
        operating, firm_outside, outside, alpha = 0.01, 0.01, 0.001, rng.uniform()
        result = two_part_tariff(market, operating, firm_outside, outside, alpha)
        if not result.feasible:
            continue
        efficient = _direct_optimum(market, 0.5)  # e^S by L-BFGS on welfare, no lambda fixed point
        surplus = _welfare(market, efficient) - operating - firm_outside - outside * market.n_creators
        shares = _quadrature_shares(market, efficient)
        unit = market.cost * efficient
        base = outside + shares * alpha * surplus - 0.5 * market.cost * efficient**2  # Prop. 9, from its definition
        received = base + unit * efficient  # each creator's booked payment
        scale = max(1.0, abs(result.firm_transfer))
        worst["balance"] = max(worst["balance"], abs(result.firm_transfer - received.sum() - operating) / scale)
        worst["base"] = max(worst["base"], float(np.max(np.abs(result.base_payment - base))) / scale)
        # IC: each creator searches its own effort under the code's tariff (base payment fixed
        # by the contract, unit price per unit of effort); compare with e^S found directly.
        chosen = _golden_max(lambda e: result.base_payment + result.unit_price * e - 0.5 * market.cost * e**2,
                             np.zeros(market.n_creators), np.full(market.n_creators, 10.0))
        worst["ic"] = max(worst["ic"], float(np.max(np.abs(chosen - efficient))))
        utility = result.base_payment + result.unit_price * chosen - 0.5 * market.cost * chosen**2
        worst["ir"] = max(worst["ir"], float(np.max(outside - utility)))
        worst["identity"] = max(worst["identity"], abs(result.intermediary_balance))
    checks = [
        _check("two-part tariff BB (Prop. 9), per party", "the firm's transfer T covers the creators' payments and K exactly",
               f"|T - sum_i (a_i + t_i e_i) - K| / max(1, T) over {markets} random markets, payments built from "
               "e^S by L-BFGS-B and Aumann-Shapley shares by quadrature", worst["balance"], 1e-6,
               "optimiser (1e-7 on efforts) and quadrature (1e-10) accuracy, times O(1) payments"),
        _check("two-part tariff base payments (Prop. 9)", "a_i = u0 + w_i alpha Delta - c (e_i^S)^2 / 2",
               "largest |a_i(code) - a_i(independent)| / max(1, T)", worst["base"], 1e-6,
               "optimiser and quadrature accuracy"),
        _check("two-part tariff IC (Prop. 9)", "each creator's payoff-maximising effort is the efficient e^S",
               "largest |argmax_e (a_i + t_i e - c e^2/2) - e^S_i| (golden-section search vs L-BFGS-B on welfare)",
               worst["ic"], 1e-5, "optimiser tolerances (1e-7 and golden section to 1e-12)"),
        _check("two-part tariff IR (Prop. 9)", "every creator gets at least u0 at its chosen effort",
               "largest shortfall below u0", max(worst["ir"], 0.0), 1e-12, "floating-point rounding"),
        _check("two-part tariff balance field", "intermediary_balance = 0",
               "T - sum(a + t e) - K from the tariff's own arrays", worst["identity"], 1e-12,
               "floating-point rounding", kind=IDENTITY),
    ]
    return checks + _dynamic_intermediary_checks(quick)


def _dynamic_intermediary_checks(quick: bool) -> list[Check]:
    """Budget balance, IR and IC of the dynamic intermediary from per-creator arrays.

    The model is stepped round by round; after each round the check rebuilds every
    creator's payment from the contract's definition (its outside option, its Aumann-Shapley
    share of the round's net surplus, its unit payments) using the agents' own arrays, and
    sums per party: the creators' receipts against the firm's booked transfer and the
    intermediary's cost ``K``, the booked creator surplus per type against the rebuilt one.
    IC: a sample of creators each searches its own effort, with the round re-settled at
    the deviation (its share and the surplus move with it).
    """
    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.regimes import RegimeSettings
    from abm.scenario import default_scenario
    from abm.theory.fluid import marginal_values

    settings = RegimeSettings(operating_cost=0.002, firm_outside=0.001, bargaining_power=0.3)
    scenario = dataclasses.replace(default_scenario(), regime=settings).with_simulation(
        agents=500 if quick else 1000, horizon=50.0, dt=0.1, regime="intermediary")
    model = DataMarketModel(scenario, rng=0)
    population, alpha = model.population, settings.bargaining_power
    worst = {"balance": 0.0, "surplus": 0.0, "ir": np.inf, "ic": 0.0, "margin": 0.0}
    rounds, called_off, picker = 0, 0, np.random.default_rng(0)
    for _ in range(model.n_rounds):
        stocks = model.stocks.copy()
        model.step()
        row = model.latest
        rounds += 1
        offered, active, effort = population.offered, population.active, population.effort
        mass, cost = population.mass, population.cost
        omega = np.where(active, population.outside_option, 0.0)
        if not offered.any():
            called_off += 1
            continue
        # marginal values by central differences of precision, against the prices posted
        h = 1e-6 * np.maximum(stocks, 1.0)
        numeric = []
        for k in range(2):
            up, down = stocks.copy(), stocks.copy()
            up[k] += h[k]
            down[k] -= h[k]
            numeric.append((_precision_of(model.market, up) - _precision_of(model.market, down)) / (2 * h[k]))
        posted = np.array([offered[population.kind == k][0] for k in range(2)])
        worst["margin"] = max(worst["margin"], float(np.max(np.abs(posted - model.market.value * np.array(numeric)))))
        gross = mass * (offered * effort - 0.5 * cost * effort**2)
        total_gross = gross.sum()
        costs = float((mass * omega).sum()) + settings.operating_cost + settings.firm_outside
        surplus = total_gross - costs
        receipts = mass * omega + gross / total_gross * alpha * surplus + 0.5 * mass * cost * effort**2
        scale = max(abs(row["firm_transfer"]), 1e-12)
        worst["balance"] = max(worst["balance"],
                               abs(row["firm_transfer"] - receipts.sum() - settings.operating_cost) / scale)
        kept = receipts - 0.5 * mass * cost * effort**2 - mass * omega
        booked = np.array([row["surplus_innovators"], row["surplus_rank_and_file"]])
        rebuilt = np.bincount(population.kind, weights=kept, minlength=2)
        worst["surplus"] = max(worst["surplus"], float(np.max(np.abs(booked - rebuilt))) / scale)
        worst["ir"] = min(worst["ir"], float(kept[active].min() / mass[0]) if active.any() else np.inf)
        if rounds % 25 == 1 and active.sum() > 1:
            sample = picker.choice(np.flatnonzero(active), size=min(20, int(active.sum())), replace=False)
            others = total_gross - gross[sample]

            def payoff(e, i=sample):
                own = mass[i] * (offered[i] * e - 0.5 * cost[i] * e**2)
                grand = others + own
                return own / grand * alpha * (grand - costs)

            chosen = _golden_max(payoff, np.zeros(len(sample)), 3 * offered[sample] / cost[sample])
            worst["ic"] = max(worst["ic"], float(np.max(np.abs(chosen - effort[sample]) / effort[sample])))
    feasible = rounds - called_off
    return [
        _check("dynamic intermediary BB, per party (this project's extension)",
               "every round the firm's transfer pays each creator's base + unit payments and K exactly",
               f"largest |T_booked - sum_i payments_i - K| / T over {feasible} settled rounds "
               f"({called_off} called off), payments rebuilt per creator from the contract", worst["balance"], 1e-9,
               "floating-point rounding of sums over 2N creators (1e-16 each, relative)"),
        _check("dynamic intermediary creator surplus, per type", "booked surplus = sum of rebuilt w_i alpha Delta",
               "largest |booked - rebuilt| / T", worst["surplus"], 1e-9, "floating-point rounding of sums"),
        _check("dynamic intermediary IR", "every admitted creator keeps at least its outside option",
               f"smallest rebuilt surplus over outside option per unit mass: {worst['ir']:.3g}",
               max(-worst["ir"], 0.0), 1e-12, "floating-point rounding"),
        _check("dynamic intermediary IC", "no admitted creator gains by another effort, the round re-settled at it",
               "largest relative |argmax - effort| over sampled creators (golden-section search)", worst["ic"], 1e-6,
               "golden-section search to 1e-12 of a payoff flat to second order (sqrt)"),
        _check("dynamic intermediary prices = marginal social values",
               "t_k = v dP/dX_k (implicit function theorem)", "largest |t_k - v dP/dX_k|, derivative by central "
               "differences of precision", worst["margin"], 1e-6,
               "central differences with step 1e-6: O(h^2) truncation and O(eps/h) rounding"),
    ]


def _precision_of(market, stocks) -> float:
    from abm.theory.fluid import precision

    return precision(market, stocks)


def _procurement_checks(rng, draws: int) -> list[Check]:
    from abm.theory.procurement import evaluate_mechanisms, sample_table1_market

    market = sample_table1_market(3)
    outcomes = evaluate_mechanisms(market, market.sample_costs(draws, rng))
    rev = {n: o.revenue for n, o in outcomes.items()}
    sw = {n: o.welfare for n, o in outcomes.items()}
    tolerance = 1e-7 * float(np.abs(rev["M4"]).max())
    per_draw = max(float(np.max(rev["M4"] - rev["M2"])), float(np.max(rev["M6"] - rev["M5"])),
                   float(np.max(sw["M1"] - sw["M2"])), 0.0)
    identical = max(float(np.max(np.abs(rev["M4"] - rev["M5"]))), float(np.max(np.abs(sw["M2"] - sw["M4"]))))
    checks = [_check("procurement rankings per draw (Thms 2.4, 3.3)", "Rev2 >= Rev4, Rev5 >= Rev6, SW2 >= SW1 in every draw",
                     f"largest violation over {draws} draws of the Table 1 market", per_draw, tolerance,
                     "allocation accuracy (1e-9 relative) times payments"),
              _check("procurement Rev4 = Rev5 and SW2 = SW4", "equalities of the procurement paper",
                     "both sides come from one allocation at the upper bounds (Rev) and one cost-weighted "
                     f"allocation (SW): largest difference {identical:.2g}", identical, tolerance,
                     "floating-point rounding", kind=IDENTITY)]
    for label, better, worse in (("Rev1 >= Rev2", rev["M1"], rev["M2"]), ("SW6 >= SW5", sw["M6"], sw["M5"])):
        difference = better - worse
        error = float(difference.std(ddof=1) / np.sqrt(draws))
        checks.append(_check(f"procurement {label} in expectation", f"{label} (expectations only)",
                             f"mean difference {difference.mean():.4g} +- {error:.2g}",
                             max(0.0, -float(difference.mean())), 4 * error,
                             "4 standard errors of the mean difference"))
    return checks


def _threshold_group(out: Path, quick: bool) -> list[Check]:
    try:
        from analysis.threshold import threshold_checks
    except ImportError as error:
        return [_check("threshold entry checks (analysis/threshold.py)", "see analysis/threshold.py",
                       f"not run: analysis.threshold could not be imported ({error})", np.nan, 0.0,
                       "skipped", skipped=True)]
    return list(threshold_checks(out, quick))


def run_checks(out, quick: bool = False, seed: int = 2026, progress: bool = False) -> list[Check]:
    """Run every check, writing its figures into ``out``; ``progress`` shows a bar over the groups."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = [("static market", lambda: _static_checks(rng)), ("dynamic market", lambda: _dynamic_checks(out, quick)),
              ("mechanisms", lambda: _mechanism_checks(rng, quick)),
              ("procurement", lambda: _procurement_checks(rng, draws=50 if quick else 200)),
              ("threshold entry", lambda: _threshold_group(out, quick)),
              ("creators with their own loadings", lambda: _heterogeneity_group(out, quick)),
              ("welfare and the dynamic planner", lambda: _welfare_group(out, quick)),
              ("creator behaviours", lambda: _behaviour_group(out, quick, seed))]
    return _run_groups(groups, progress, "validate")


def _welfare_group(out: Path, quick: bool) -> list[Check]:
    from analysis.welfare import welfare_checks

    return welfare_checks(out, quick)


def _heterogeneity_group(out: Path, quick: bool) -> list[Check]:
    from analysis.heterogeneity import heterogeneity_checks

    return heterogeneity_checks(out, quick)


def _run_groups(groups, progress: bool, description: str) -> list:
    if progress:
        from tqdm.auto import tqdm

        groups = tqdm(groups, desc=description, unit="group")
    found = []
    for name, group in groups:
        if progress:
            groups.set_postfix_str(name)
        found += group()
    return found


# --- creator behaviours: agents vs each behaviour's fluid map, departures from best response ---------

#: Exponents of the agents' distance to a behaviour's fluid map in the population size, derived
#: before any fit (``docs/behaviours.md``): logit entry is a sum of independent draws and the
#: firm maximises a smooth expected profit, so the error is N^(-1/2) (central limit); under sunk
#: entry the first price is the argmax of an empirical profit curve (error N^(-1/3), cube-root
#: asymptotics) and hysteresis freezes the entry set it bought, so the state errs by N^(-1/3).
#: Rules not listed get the one-sided check that the distance falls no more slowly than the
#: cube-root rate (a rule with memory can lock in the firm's first argmax, at worst).
BEHAVIOUR_EXPONENTS = {"logit": -0.5, "sunk_entry": -1.0 / 3.0}
#: The slowest rate a rule without a derived exponent may show (the cube-root rate).
SLOWEST_EXPONENT = -1.0 / 3.0
#: Creators per type (full, quick) and replications of the behaviours' convergence check.
BEHAVIOUR_POPULATIONS = ((500, 2000, 8000), (250, 1000))
BEHAVIOUR_REPLICATIONS = (4, 3)
#: Horizon of the convergence runs (each behaviour's shipped scenario, shortened).
BEHAVIOUR_HORIZON = 25.0


def behaviour_convergence(name: str, populations, replications: int, seed: int,
                          horizon: float = BEHAVIOUR_HORIZON) -> dict:
    """Sup-distance over the rounds of precision between the agents and the behaviour's fluid map, by population.

    The shipped scenario ``name`` with random sampling of the outside options (so every
    replication draws a new population), ``horizon`` shortened; the fluid map is solved once
    (:func:`abm.simulation.run.fluid_limit`, under the scenario's own regime). Returns the per-run
    ``table``, the OLS ``slope`` of log distance on log N with its ``stderr``, and ``dof``.
    """
    from abm.scenario import apply_overrides, resolve_scenario
    from abm.simulation.run import fluid_limit, replication_seeds, simulate, sup_distances

    scenario = apply_overrides(resolve_scenario(name), {"horizon": horizon, "sampling": "random"})
    rows, reference = [], None
    for n_agents in populations:
        for replication, child in enumerate(replication_seeds(seed, replications)):
            run = simulate(scenario, seed=child, agents=n_agents, fluid=False).agents
            if reference is None:
                reference = fluid_limit(scenario.with_simulation(agents=n_agents), run["time"].to_numpy())
            rows.append({"agents": n_agents, "replication": replication,
                         "precision": sup_distances(run, reference, ["precision"])["precision"]})
    table = pd.DataFrame(rows)
    fit = stats.linregress(np.log(table["agents"]), np.log(table["precision"]))
    return {"table": table, "slope": float(fit.slope), "stderr": float(fit.stderr), "dof": len(table) - 2}


def _behaviour_group(out: Path, quick: bool, seed: int) -> list[Check]:
    """Per behaviour: the agents dock with its fluid map, at the rate derived where one is (emergent)."""
    from abm.theory.fluid import SupplyAssumptionWarning
    from analysis.comparison import behaviour_rules

    populations = BEHAVIOUR_POPULATIONS[quick]
    replications = BEHAVIOUR_REPLICATIONS[quick]
    checks, fits = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupplyAssumptionWarning)
        for rule, name in behaviour_rules():
            fit = behaviour_convergence(name, populations, replications, seed)
            fits[rule] = fit
            means = fit["table"].groupby("agents")["precision"].mean()
            quantile = _t95(fit["dof"])
            observed = (f"{name}.toml, horizon {BEHAVIOUR_HORIZON:g}: mean sup |P_agents - P_fluid| "
                        + ", ".join(f"{d:.3g} at N = {n:,}" for n, d in means.items())
                        + f"; fitted exponent {fit['slope']:.3f} +- {fit['stderr']:.3f} (s.e., "
                        f"{len(fit['table'])} runs)")
            figure = "behaviour_convergence.png"
            if rule in BEHAVIOUR_EXPONENTS:
                expected = BEHAVIOUR_EXPONENTS[rule]
                checks.append(_check(
                    f"{rule}: agents vs its fluid map, by population",
                    f"distance ~ N^({expected:g}) (independent draws: central limit)", observed,
                    abs(fit["slope"] - expected), quantile * fit["stderr"],
                    f"95% confidence half-width of the fitted slope (t quantile {quantile:.2f} times its s.e.)",
                    figure, kind=EMERGENT))
            else:
                one_sided = float(stats.t.ppf(0.95, max(fit["dof"], 1)))
                checks.append(_check(
                    f"{rule}: agents vs its fluid map, by population",
                    "the distance falls at least as fast as N^(-1/3) (no exact rate derived; -1/3 is the "
                    "cube-root rate of the firm's argmax on an empirical curve)", observed,
                    max(fit["slope"] - SLOWEST_EXPONENT, 0.0), one_sided * fit["stderr"],
                    f"one-sided 95% bound on the fitted slope (t quantile {one_sided:.2f} times its s.e.)", figure,
                    kind=EMERGENT))
    if fits:
        _behaviour_convergence_figure(out / "behaviour_convergence.png", fits)
    return checks


def _behaviour_convergence_figure(path: Path, fits: dict) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    for index, (rule, fit) in enumerate(fits.items()):
        table, colour = fit["table"], f"C{index}"
        label = rule.replace("_", " ")
        ax.scatter(table["agents"], table["precision"], color=colour, alpha=0.5, s=14)
        sizes = np.array(sorted(table["agents"].unique()), dtype=float)
        intercept = float(np.mean(np.log(table["precision"]) - fit["slope"] * np.log(table["agents"])))
        ax.plot(sizes, np.exp(intercept) * sizes ** fit["slope"], color=colour,
                label=f"{label}: exponent {fit['slope']:.2f} +- {fit['stderr']:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("creators per type, N")
    ax.set_ylabel("largest gap in precision over the rounds")
    ax.set_title("Agents against each behaviour's fluid map")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=130)
    plt.close(fig)


_BEHAVIOUR_QUANTITIES = (("price_final", "price at the horizon"), ("precision_final", "precision at the horizon"),
                         ("innovator_participation_final", "innovator share at the horizon"))


def _behaviour_departures(quick: bool, seed: int) -> list[Departure]:
    """Each behaviour against best response on the same agents (paired seeds), its shipped scenario at the horizon."""
    from abm.simulation.run import confidence_interval, replication_seeds, simulate, summarise
    from abm.scenario import resolve_scenario
    from analysis.comparison import behaviour_rules, with_behaviour

    replications = 2 if quick else 4
    departures = []
    for rule, name in behaviour_rules():
        scenario = resolve_scenario(name)
        if quick:
            scenario = scenario.with_simulation(agents=300)
        best = with_behaviour(scenario, "best_response")
        pairs = []
        for index, child in enumerate(replication_seeds(seed, replications)):
            fluid = index == 0  # the fluid maps do not depend on the seed: solved once, read from the first pair
            pairs.append((summarise(simulate(scenario, seed=child, fluid=fluid)),
                          summarise(simulate(best, seed=child, fluid=fluid))))
        for quantity, label in _BEHAVIOUR_QUANTITIES:
            chosen = np.array([b[quantity] for b, _ in pairs])
            reference = np.array([r[quantity] for _, r in pairs])
            with np.errstate(divide="ignore", invalid="ignore"):
                relative = (chosen - reference) / np.abs(reference)
            mean, low, high = confidence_interval(relative)
            fluid_b, fluid_r = pairs[0][0][f"{quantity}_fluid"], pairs[0][1][f"{quantity}_fluid"]
            departures.append(Departure(
                f"behaviour {rule}", label, "best response, same agents (paired seeds)", float(reference.mean()),
                float(chosen.mean()), mean, low, high, replications,
                _direction(low, high, f"{rule} above best response", f"{rule} below best response"),
                f"{name}.toml ({scenario.simulation.agents} per type, {scenario.simulation.sampling} outside "
                f"options, horizon {scenario.simulation.horizon:g}); fluid maps: {fluid_b:.4g} against "
                f"{fluid_r:.4g}"))
    return departures


# --- departures -----------------------------------------------------------------------------------


def _direction(low: float, high: float, above: str, below: str) -> str:
    if low > 0:
        return above
    if high < 0:
        return below
    return "no significant difference (the 95% CI covers 0)"


_LABELS = {"innovator_participation_final": "innovator participation at the end",
           "price_final": "price at the end", "precision_final": "precision at the end"}


def run_departures(out, quick: bool = False, seed: int = 2026, progress: bool = False) -> list[Departure]:
    """Every measured departure of the agents from the theory, with 95% CIs (see the module docstring)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    replications = 5 if quick else 10
    groups = [("finite population", lambda: _finite_population_departures(out, quick, seed, replications)),
              ("learning firm", lambda: _learning_departures(quick, seed, replications)),
              ("heterogeneity", _heterogeneity_departures),
              ("creator behaviours", lambda: _behaviour_departures(quick, seed))]
    from abm.theory.fluid import SupplyAssumptionWarning

    with warnings.catch_warnings():  # Eq. 7 fails above full rank-and-file entry; the checks do not rely on it
        warnings.simplefilter("ignore", SupplyAssumptionWarning)
        return _run_groups(groups, progress, "departures")


def _finite_population_departures(out: Path, quick: bool, seed: int, replications: int) -> list[Departure]:
    from analysis.plots import plot_finite_population

    overrides = {"dt": 0.1} if quick else {}
    table = finite_population_bias("curse_of_precision", (1000, 5000), replications, seed, **overrides)
    table.to_csv(out / "finite_population.csv", index=False)
    plot_finite_population(table).savefig(out / "finite_population.png", dpi=130)
    departures = []
    for _, row in table.iterrows():
        label = _LABELS[row["quantity"]]
        departures.append(Departure(
            f"finite population (N = {row['agents']:,} per type)", label, "fluid limit", row["fluid"],
            row["agents_mean"], row["relative"], row["low"], row["high"], int(row["replications"]),
            _direction(row["low"], row["high"], "agents above the fluid limit", "agents below the fluid limit"),
            "curse_of_precision" + (", rounds of 0.1" if quick else "")))
    return departures


def _learning_departures(quick: bool, seed: int, replications: int) -> list[Departure]:
    from abm.simulation.run import confidence_interval

    overrides = {"agents": 1000} if quick else {}
    regret = learning_firm_regret(replications, seed, **overrides)
    departures = []
    specs = (("surplus_regret", "cumulative trade surplus (regret)", "shortfall",
              "the learning firm's market creates less trade surplus", "more trade surplus"),
             ("profit_regret", "firm's cumulative trade profit (regret)", "shortfall",
              "the learning firm earns less from its trades", "the learning firm earns more"),
             ("price_gap", "mean price over the second half", "gap",
              "the learning firm pays more than the myopic firm", "the learning firm pays less"))
    for key, quantity, _, above, below in specs:
        mean, low, high = confidence_interval(regret[key])
        reference = "myopic firm, same agents" if key != "price_gap" else "myopic firm's mean price, same agents"
        ref_value = float(np.mean(regret["late_price_myopic"])) if key == "price_gap" else float("nan")
        agents_value = float(np.mean(regret["late_price_learning"])) if key == "price_gap" else float("nan")
        note = ""
        if key == "price_gap":
            settles = high < 0.05 and low > -0.05
            note = (f"settles within 5% of the myopic price: {'yes' if settles else 'no'} "
                    "(the whole 95% CI must lie inside +-5%)")
        departures.append(Departure("learning firm", quantity, reference, ref_value, agents_value, mean, low, high,
                                    len(regret[key]), _direction(low, high, above, below), note))
    mean, low, high = confidence_interval(regret["loss_rounds"])
    myopic = float(np.mean(regret["loss_rounds_myopic"]))
    departures.append(Departure(
        "firm participation", "share of rounds whose trades lose money", "theory: never (the myopic price "
        "earns a non-negative trade profit; a firm with outside option 0 never leaves)", myopic, mean,
        mean - myopic, low - myopic, high - myopic, len(regret["loss_rounds"]),
        "the learning firm trades at a loss in some rounds" if low - myopic > 0 else "no significant difference",
        "relative column: difference in the share of rounds, learning minus myopic"))
    return departures


def _heterogeneity_departures() -> list[Departure]:
    from abm.scenario import load_scenario, scenario_names, SCENARIO_DIR
    from abm.simulation.dynamic_market.model import Population

    for name in scenario_names():
        scenario = load_scenario(SCENARIO_DIR / f"{name}.toml").with_simulation(agents=2)
        if Population(scenario, np.random.default_rng(0)).heterogeneous:
            return [Departure("heterogeneity", "not measured yet", f"scenario {name}", np.nan, np.nan, np.nan, np.nan,
                              np.nan, 0, "unknown",
                              f"{name} gives creators their own loadings; no comparison with the theory is run yet")]
    return []


# --- the report -----------------------------------------------------------------------------------


def _result(check: Check) -> str:
    if check.details.get("skipped"):
        return "skipped"
    if check.kind == IDENTITY:
        return "holds" if check.passed else "**BROKEN**"
    return "pass" if check.passed else "**FAIL**"


def write_report(checks: list[Check], out, seed: int, quick: bool, departures=None) -> Path:
    """Write ``report.md`` (and ``checks.csv``, ``departures.csv``): tests by kind, identities
    apart, then the departures with their confidence intervals."""
    from abm.storage import versions

    out = Path(out)
    rows = pd.DataFrame([{k: v for k, v in c.__dict__.items() if k != "details"} for c in checks])
    rows.to_csv(out / "checks.csv", index=False)
    tests = [c for c in checks if c.counted]
    lines = ["# Validation report", "",
             f"Seed {seed}{' (quick)' if quick else ''}; versions: "
             + ", ".join(f"{k} {v}" for k, v in versions().items()), "",
             f"**{sum(c.passed for c in tests)} of {len(tests)} tests pass.** Identities are listed apart and "
             "not counted.", ""]
    header = ["| check | theory | observed | distance | tolerance | tolerance from | kind | result |",
              "|---|---|---|---|---|---|---|---|"]
    lines += ["## Tests", ""] + header
    for c in checks:
        if c.kind != IDENTITY:
            lines.append(f"| {c.name} | {c.theory} | {c.observed} | {c.distance:.3g} | {c.tolerance:.3g} | "
                         f"{c.tolerance_source} | {c.kind} | {_result(c)} |")
    identities = [c for c in checks if c.kind == IDENTITY]
    if identities:
        lines += ["", "## Identities (for information; they cannot fail, so they are not tests)", ""] + header
        for c in identities:
            lines.append(f"| {c.name} | {c.theory} | {c.observed} | {c.distance:.3g} | {c.tolerance:.3g} | "
                         f"{c.tolerance_source} | {c.kind} | {_result(c)} |")
    if departures:
        pd.DataFrame([d.__dict__ for d in departures]).to_csv(out / "departures.csv", index=False)
        lines += ["", "## Departures of the agents from the theory", "",
                  "Relative difference `(agents - reference) / |reference|`, mean over replications with its "
                  "95% confidence interval (Student t).", "",
                  "| where | quantity | reference | reference value | agents | relative | 95% CI | runs | which way | note |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for d in departures:
            lines.append(f"| {d.name} | {d.quantity} | {d.reference} | {d.reference_value:.4g} | {d.agents_value:.4g} | "
                         f"{d.relative:+.3f} | [{d.low:+.3f}, {d.high:+.3f}] | {d.replications} | {d.direction} | "
                         f"{d.note} |")
    lines.append("")
    figures = [c.figure for c in checks if c.figure] + (["finite_population.png"] if departures else [])
    for figure in dict.fromkeys(figures):
        if (out / figure).exists():
            lines += [f"![{figure}]({figure})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
