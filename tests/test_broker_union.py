"""The private data broker and the creator union: one round's prices against direct
optimisation, the static counterparts, booked transfers, docking with the fluid limit, the
settings and the two scenarios."""

import dataclasses

import numpy as np
import pytest
from scipy import optimize

from abm.regimes import REGIMES, RegimeSettings
from abm.scenario import default_scenario, resolve_scenario
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import replicate
from abm.theory.broker_union import (
    broker_terms,
    isoelastic_broker_terms,
    isoelastic_union_price,
    monopsony_price,
    static_equilibrium,
    union_price,
)
from abm.theory.fluid import CreatorType, PricingContext
from abm.theory.static import InformationMarket, common_factor_weight, effective_precision, social_optimum, stackelberg
from abm.theory.supply import LogNormal, PowerLaw
from tests.markets import curse_market, scenario

#: Rank-and-file creators of the curse scenario (power law, exponent 2: eps = 5, saturating at t = 0.316).
ELASTIC = CreatorType(mass=20.0, beta=0.9, outside_option=PowerLaw(0.05, 2.0))
#: Innovators of the curse scenario (eps = 3, saturating at t = 1).
INELASTIC = CreatorType(mass=1.0, beta=0.0, outside_option=PowerLaw(0.5, 1.0))
#: A type whose supply is not isoelastic anywhere: only the numerical search applies.
LOGNORMAL = CreatorType(mass=3.0, beta=0.5, outside_option=LogNormal(0.04, 0.8), cost=1.3)

# Tolerances. scipy's bounded Brent below runs to xatol = 1e-12; near a smooth maximum the
# objective is flat to second order, so an argmax is determined to about sqrt(eps) ~ 1.5e-8
# relative: 1e-6 leaves a factor of ~60. Where the problem is nested (the broker) the inner
# argmax error enters the outer objective only to second order (envelope theorem): same bound.
ARGMAX_RTOL = 1e-6
# The broker's reference is nested: the inner argmax error (~1.5e-8 relative) enters the firm's
# factor of the Nash product at first order, so the outer argmax is determined only to about
# its square root, 1.2e-4; 1e-3 leaves a factor of 8.
NESTED_RTOL = 1e-3


def _argmax(objective, low, high, points=4001, vectorised=True):
    """Direct maximisation: the best point of a dense grid, then bounded Brent (scipy) between its neighbours."""
    grid = np.linspace(low, high, points)
    values = objective(grid) if vectorised else np.array([objective(x) for x in grid])
    best = int(np.argmax(values))
    scalar = (lambda x: float(objective(np.array([x]))[0])) if vectorised else objective
    result = optimize.minimize_scalar(lambda x: -scalar(x), bounds=(grid[max(best - 1, 0)],
                                      grid[min(best + 1, points - 1)]), method="bounded", options={"xatol": 1e-12})
    return float(result.x)


def _monopsony_direct(creator, resale):
    return _argmax(lambda t: creator.inflow(t) * (resale - t), 0.0, resale)


def _log_nash(first, second, weight):
    """``weight log first + (1 - weight) log second``, -inf where a needed factor is not positive."""
    with np.errstate(divide="ignore"):
        value = weight * np.log(np.maximum(first, 0.0)) if weight > 0 else 0.0 * first
        return value + ((1 - weight) * np.log(np.maximum(second, 0.0)) if weight < 1 else 0.0)


def _union_direct(creator, mu, alpha):
    return _argmax(lambda t: _log_nash(creator.surplus(t), creator.inflow(t) * (mu - t), alpha), 0.0, mu)


def _broker_direct(creator, mu, weight):
    """Nested direct optimisation: for each resale price the broker's own argmax (scipy), then
    the Nash product over resale prices (scipy)."""
    def log_nash(r):
        t = _monopsony_direct(creator, r) if r > 0 else 0.0
        supplied = float(creator.inflow(t))
        return float(_log_nash(supplied * (r - t), supplied * (mu - r), weight))
    r = _argmax(log_nash, 0.0, mu, points=201, vectorised=False)
    return r, _monopsony_direct(creator, r)


# --- one round: closed forms and searches against direct optimisation -------------------------


@pytest.mark.parametrize("creator, resale", [(ELASTIC, 0.2), (INELASTIC, 0.9), (ELASTIC, 0.9), (LOGNORMAL, 0.7)])
def test_the_broker_buying_price_maximises_its_margin(creator, resale):
    # ELASTIC at 0.9 and LOGNORMAL take the numerical search (beyond saturation / not isoelastic).
    assert monopsony_price(creator, resale) == pytest.approx(_monopsony_direct(creator, resale), rel=ARGMAX_RTOL)


def test_closed_forms_are_the_isoelastic_first_order_conditions():
    # eps = 5 (exponent 2): markdown 5/6; alpha = 0.3: union price (0.3 + 5)/6 mu.
    assert monopsony_price(ELASTIC, 0.2) == pytest.approx(0.2 * 5 / 6, rel=1e-15)
    assert isoelastic_union_price(5.0, 0.24, 0.3) == pytest.approx(0.24 * 5.3 / 6, rel=1e-15)
    resale, price = isoelastic_broker_terms(3.0, 0.8, 0.5)
    assert (resale, price) == pytest.approx((0.8 * 3.5 / 4, 0.8 * 3.5 / 4 * 0.75), rel=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("creator, mu", [(ELASTIC, 0.25), (INELASTIC, 0.95), (ELASTIC, 0.6), (LOGNORMAL, 0.5)])
def test_the_union_price_is_the_nash_bargain(creator, mu, alpha):
    assert union_price(creator, mu, alpha) == pytest.approx(_union_direct(creator, mu, alpha), rel=ARGMAX_RTOL)


def _check_broker_terms(creator, mu, weight):
    direct = _broker_direct(creator, mu, weight)
    ours = broker_terms(creator, mu, weight)
    assert ours == pytest.approx(direct, rel=NESTED_RTOL)

    def nash(r):  # the Nash product, the broker's problem solved directly at r
        t = _monopsony_direct(creator, r)
        supplied = float(creator.inflow(t))
        return (supplied * (r - t)) ** weight * (supplied * (mu - r)) ** (1 - weight)
    assert nash(ours[0]) >= nash(direct[0]) * (1 - 1e-7)  # the inner argmax's 1.5e-8, doubled, times a margin


@pytest.mark.parametrize("creator, mu, weight", [(INELASTIC, 0.95, 0.5), (LOGNORMAL, 0.5, 0.5)])
def test_the_broker_terms_are_the_nash_bargain_over_the_resale_price(creator, mu, weight):
    _check_broker_terms(creator, mu, weight)


@pytest.mark.slow
@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("creator, mu", [(ELASTIC, 0.25), (INELASTIC, 0.95), (ELASTIC, 0.9), (LOGNORMAL, 0.5)])
def test_the_broker_terms_are_the_nash_bargain_for_every_weight(creator, mu, weight):
    _check_broker_terms(creator, mu, weight)


def test_limits_of_the_bargaining_weights():
    mu = 0.25
    # alpha = 1: the firm's marginal value (the regulated intermediary's price); alpha = 0: its monopsony price.
    assert union_price(ELASTIC, mu, 1.0) == mu
    assert union_price(ELASTIC, mu, 0.0) == pytest.approx(monopsony_price(ELASTIC, mu), rel=1e-15)
    # w = 1: the broker resells at mu and marks down once; w = 0: successive monopsony (5/6)^2 mu.
    assert broker_terms(ELASTIC, mu, 1.0) == pytest.approx((mu, 5 / 6 * mu), rel=1e-15)
    assert broker_terms(ELASTIC, mu, 0.0)[1] == pytest.approx((5 / 6) ** 2 * mu, rel=1e-15)


@pytest.mark.parametrize("weight", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_double_marginalisation(weight):
    """At equal weights the broker pays creators eps/(1+eps) of what a union gets them, and
    never more than the firm's own monopsony price for the type."""
    for creator, mu in ((ELASTIC, 0.25), (INELASTIC, 0.95), (LOGNORMAL, 0.5)):
        resale, price = broker_terms(creator, mu, weight)
        assert 0 < price < resale <= mu * (1 + 1e-15)
        assert price <= monopsony_price(creator, mu) * (1 + 1e-12)
        assert price < union_price(creator, mu, weight)


# --- the static market ---------------------------------------------------------------------------

MARKET = InformationMarket([0.0, 0.05, 0.1, 0.6, 0.8, 1.0], sigma2=1.5)


def test_static_fixed_point_reproduces_stackelberg_and_the_optimum():
    for shares, reference in ((0.5, stackelberg(MARKET)), (1.0, social_optimum(MARKET))):
        outcome = static_equilibrium(MARKET, shares)
        np.testing.assert_allclose(outcome.effort, reference.effort, rtol=1e-12)
    mixed = static_equilibrium(MARKET, [0.5, 0.5, 0.5, 0.9, 0.9, 0.9])
    lam = common_factor_weight(MARKET, mixed.effort)  # the fixed point: lambda of its own efforts
    shares = np.array([0.5] * 3 + [0.9] * 3)
    np.testing.assert_allclose(mixed.price, shares * MARKET.value * (1 - lam * MARKET.beta) ** 2, rtol=1e-12)


def test_static_union_without_power_is_the_firms_own_optimum():
    """alpha = 0: the firm's problem max v P(e) - c sum e^2 solved directly (scipy, SLSQP from zero)."""
    outcome = REGIMES["creator_union"].static(MARKET, RegimeSettings(union_weight=0.0))
    direct = optimize.minimize(lambda e: -(effective_precision(MARKET, e) - float(e @ e)), np.full(6, 0.1),
                               bounds=[(0, None)] * 6, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12})
    np.testing.assert_allclose(outcome.effort, direct.x, atol=1e-5)  # L-BFGS-B's gradient tolerance, not ours
    full = REGIMES["creator_union"].static(MARKET, RegimeSettings(union_weight=1.0))
    assert full.welfare == pytest.approx(social_optimum(MARKET).welfare, rel=1e-12)


def test_static_broker_per_creator_bargain_matches_direct_optimisation():
    """At the equilibrium lambda each creator's broker bargain (nested scipy) pays the shares used."""
    weight = 0.4
    outcome = REGIMES["private_broker"].static(MARKET, RegimeSettings(broker_weight=weight))
    lam = common_factor_weight(MARKET, outcome.effort)
    unit = CreatorType(mass=1.0, beta=0.0, outside_option=PowerLaw(1e6, 1e-9))  # e = t / c, nearly all active
    for beta, effort in zip(MARKET.beta[::2], outcome.effort[::2]):
        mu = MARKET.value * (1 - lam * beta) ** 2
        resale, price = _broker_direct(unit, mu, weight)
        # exponent 1e-9: elasticity 1 + 2e-9, so the shares move by ~1e-9, far inside NESTED_RTOL
        assert effort == pytest.approx(price / MARKET.cost, rel=NESTED_RTOL)
    assert outcome.intermediary_balance > 0
    assert outcome.welfare == pytest.approx(outcome.firm_profit + outcome.creator_surplus.sum()
                                            + outcome.intermediary_balance, rel=1e-12)


# --- the dynamic market: regimes, transfers booked by the agents ---------------------------------


def _context(margins):
    return PricingContext(1.0, np.asarray(margins), lambda: 0.0, 0.0, curse_market().types)


def test_union_of_rank_and_file_leaves_innovators_to_the_firms_own_price():
    settings = RegimeSettings(union_types=["rank_and_file"], union_weight=0.6)
    prices = REGIMES["creator_union"].unit_prices(_context([0.9, 0.2]), settings)
    innovators, rank_and_file = curse_market().types
    assert prices[0] == pytest.approx(monopsony_price(innovators, 0.9), rel=1e-15)
    assert prices[1] == pytest.approx(union_price(rank_and_file, 0.2, 0.6), rel=1e-15)


def test_regimes_refuse_populations_without_one_supply_curve_per_type():
    context = PricingContext(1.0, np.ones(4), lambda: 0.0, 0.0, ())
    for name in ("private_broker", "creator_union"):
        with pytest.raises(ValueError, match=f"the {name} regime prices per type"):
            REGIMES[name].unit_prices(context, RegimeSettings())


@pytest.mark.parametrize("seed", range(2))
def test_broker_transfers_booked_by_the_agents_balance(seed):
    """Every round, from the creators' own arrays (agent-by-agent stepping): creators receive
    sum m_i t e_i; the firm pays r_k per unit delivered; the broker keeps exactly the difference."""
    sim = scenario(curse_market(), horizon=5.0, dt=0.1, agents=200, regime="private_broker")
    model = DataMarketModel(sim, rng=seed, stepping="agents")
    for _ in range(sim.simulation.n_rounds):
        model.step()
        population, row = model.population, model.latest
        delivered = np.bincount(population.kind, weights=population.mass * population.effort, minlength=2)
        received = float(np.sum(population.mass * population.offered * population.effort))
        paid = float(model.resale_prices @ delivered)
        assert row["firm_transfer"] == pytest.approx(paid, rel=1e-12)
        assert row["intermediary_balance"] == pytest.approx(paid - received, rel=1e-12)
        margins = np.array([row["marginal_value_innovators"], row["marginal_value_rank_and_file"]])
        assert np.all(model.firm.prices < model.resale_prices) and np.all(model.resale_prices <= margins)
        assert np.array_equal(population.active, population.offered >= population.entry_price)


def test_union_members_sell_at_the_union_price_and_the_firm_pays_them_all():
    sim = scenario(curse_market(), horizon=5.0, dt=0.1, agents=200, regime="creator_union")
    model = DataMarketModel(sim, rng=3, stepping="agents")
    for _ in range(sim.simulation.n_rounds):
        model.step()
        population, row = model.population, model.latest
        margins = np.array([row["marginal_value_innovators"], row["marginal_value_rank_and_file"]])
        expected = [union_price(t, m, 0.5) for t, m in zip(model.market.types, margins)]
        np.testing.assert_array_equal(population.offered, np.asarray(expected)[population.kind])  # no undercutting
        assert np.array_equal(population.active, population.offered >= population.entry_price)
        received = float(np.sum(population.mass * population.offered * population.effort))
        assert row["firm_transfer"] == pytest.approx(received, rel=1e-12) and row["intermediary_balance"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("regime", ["private_broker", "creator_union"])
def test_agents_dock_with_the_fluid_limit(regime):
    """Three seeded replications of n = 2,000 agents per type against the fluid limit.

    Tolerance from the population size, fixed before the runs: each type's entry is an empirical
    CDF of n draws, whose sup-distance from G exceeds eps_n = sqrt(ln(2/0.01) / (2n)) = 0.036
    with probability 1% (Dvoretzky-Kiefer-Wolfowitz). So at any price the active mass is within
    eps_n M_k of the fluid's, and the inflows, stocks and precision built from it within about
    eps_n of their own scale. The mean over replications of each sup-distance is held to eps_n:
    active masses in units of the type's potential mass M_k, stocks and precision relative to
    the fluid limit's largest value.
    """
    agents = 2000
    tolerance = np.sqrt(np.log(2 / 0.01) / (2 * agents))
    runs = replicate("curse_of_precision", replications=3, seed=11, regime=regime, agents=agents, horizon=40.0)
    table, fluid, market = runs.summaries(), runs.fluid, runs.scenario.market
    scales = {"precision": fluid["precision"].abs().max(), "stock_innovators": fluid["stock_innovators"].abs().max(),
              "stock_rank_and_file": fluid["stock_rank_and_file"].abs().max(),
              "active_innovators": market.innovators.mass, "active_rank_and_file": market.rank_and_file.mass}
    for column, scale in scales.items():
        assert table[f"sup_distance_{column}"].mean() / scale <= tolerance, column


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, fragments", [
    ({"broker_weight": 1.5}, ["regime.broker_weight", "[0, 1]"]),
    ({"union_weight": -0.1}, ["regime.union_weight", "[0, 1]"]),
    ({"union_types": []}, ["regime.union_types", "non-empty"]),
    ({"union_types": "rank_and_file"}, ["regime.union_types", "a string"]),
    ({"union_types": ["creators"]}, ["regime.union_types", "'creators'"]),
    ({"union_types": ["innovators", "innovators"]}, ["regime.union_types", "once"]),
])
def test_bad_regime_settings_are_refused_naming_the_field(changes, fragments):
    with pytest.raises(ValueError) as error:
        RegimeSettings(**changes)
    assert all(fragment in str(error.value) for fragment in fragments)


def test_union_types_are_kept_in_type_order_and_reach_the_scenario():
    assert RegimeSettings(union_types=["rank_and_file", "innovators"]).union_types == ("innovators", "rank_and_file")
    model = DataMarketModel(agents=20, horizon=1.0, rng=0, regime="creator_union", union_types=["rank_and_file"],
                            union_weight=0.2)
    assert model.scenario.regime.union_types == ("rank_and_file",) and model.scenario.regime.union_weight == 0.2


# --- the two scenarios: every number their descriptions state ------------------------------------
#
# As tests/test_scenarios.py: each number as written, what measures it, and how it is rounded
# (tolerance half a unit of its last digit, fixed before the runs). The agents are those of
# the scenario's seed; the comparison regimes run on the same agents (as abm compare does).


def _run(name: str, regime: str | None = None):
    from analysis.comparison import present_values
    from abm.simulation.run import simulate

    scenario = resolve_scenario(name)
    result = simulate(scenario if regime is None else scenario.with_regime(regime))
    end = result.agents.iloc[-1]
    market = result.scenario.market
    shares = {k: end[f"active_{k}"] / getattr(market, k).mass for k in ("innovators", "rank_and_file")}
    return end, shares, present_values(result)


def _broker_claims():
    scenario = resolve_scenario("private_broker")
    innovators = scenario.market.innovators
    end, active, pv = _run("private_broker")
    ref, ref_active, ref_pv = _run("private_broker", "intermediary")
    mu = scenario.market.value * end["marginal_value_innovators"]
    resale, price = broker_terms(innovators, mu, scenario.regime.broker_weight)
    assert price == pytest.approx(end["price_innovators"], rel=1e-12)
    return [
        ("0.5", scenario.regime.broker_weight, "exact"),
        ("3", 2 * innovators.outside_option.exponent + 1, "exact"),
        ("87.5%", resale / mu, "rounded"),
        ("75%", price / resale, "rounded"),
        ("65.6%", end["price_innovators"] / mu, "rounded"),
        ("0.650", end["price_innovators"], "rounded"),
        ("42.5%", active["innovators"], "rounded"),
        ("13.79", end["precision"], "rounded"),
        ("0.999", ref["price_innovators"], "rounded"),
        ("99.8%", ref_active["innovators"], "rounded"),
        ("48.95", ref["precision"], "rounded"),
        ("107.8", pv["pv_welfare"], "rounded"),
        ("37%", pv["pv_welfare"] / ref_pv["pv_welfare"], "rounded"),
        ("289.2", ref_pv["pv_welfare"], "rounded"),
        ("106.0", pv["pv_firm"], "rounded"),
        ("1.08", pv["pv_intermediary"], "rounded"),
        ("0.80", pv["pv_innovators"], "rounded"),
        ("2.30", ref_pv["pv_innovators"], "rounded"),
    ], {"5", "000", "0", "200", "1.15"}  # 1.15: curse_of_precision's fluid claim (tests/test_scenarios.py)


def _union_claims():
    scenario = resolve_scenario("creator_union")
    market = scenario.market
    end, active, pv = _run("creator_union")
    statutory, statutory_active, statutory_pv = _run("creator_union", "statutory_license")
    pool, pool_active, pool_pv = _run("creator_union", "collective_pool")
    value = market.value
    return [
        ("0.5", [scenario.regime.union_weight, scenario.regime.pool_share], "exact"),
        ("3", 2 * market.innovators.outside_option.exponent + 1, "exact"),
        ("5", 2 * market.rank_and_file.outside_option.exponent + 1, "exact"),
        ("0.25", scenario.regime.statutory_rate, "exact"),
        ("87.5%", end["price_innovators"] / (value * end["marginal_value_innovators"]), "rounded"),
        ("91.7%", end["price_rank_and_file"] / (value * end["marginal_value_rank_and_file"]), "rounded"),
        ("0.873", end["price_innovators"], "rounded"),
        ("75.7%", active["innovators"], "rounded"),
        ("32.53", end["precision"], "rounded"),
        ("2.14", statutory["precision"], "rounded"),
        ("6.4%", statutory_active["innovators"], "rounded"),
        ("6.17", pool["precision"], "rounded"),
        ("24.1%", pool_active["innovators"], "rounded"),
        ("204.3", pv["pv_welfare"], "rounded"),
        ("46.7", statutory_pv["pv_welfare"], "rounded"),
        ("70.2", pool_pv["pv_welfare"], "rounded"),
        ("2.64", pv["pv_innovators"], "rounded"),
        ("0.020", statutory_pv["pv_innovators"], "rounded"),
        ("0.27", pool_pv["pv_innovators"], "rounded"),
        ("0.023", pv["pv_rank_and_file"], "rounded"),
        ("1.62", statutory_pv["pv_rank_and_file"], "rounded"),
    ], {"5", "000", "0", "1", "200"}


@pytest.mark.slow
@pytest.mark.parametrize("name, claims", [("private_broker", _broker_claims), ("creator_union", _union_claims)])
def test_every_number_in_the_scenario_descriptions_is_true(name, claims):
    from tests.test_scenarios import assert_claims

    stated, context = claims()
    assert_claims(name, resolve_scenario(name).description, stated, context)
