"""The behaviours' fast paths agree with the direct computations they replace.

* ``Logit.expected_count`` (Taylor series over bins of outside options) against the sum of
  ``expit`` over every creator: 1e-12 relative (the series' truncation error is below 1e-16
  of the sum, the rest is the order of summation, ~1e-15).
* ``kernels.logit_decide`` against SciPy's ``expit``: the same probability bit for bit, so the
  same decisions from the same draws.
* ``SunkEntry.active_count`` / ``decide_all`` against ``enters`` creator by creator: the same
  active set (exact: comparisons only).
* The firm's supply curve reused while the sunk-entry incumbents are unchanged: the same prices
  as rebuilding it every round, bit for bit.
* ``kernels.stock_update`` and ``kernels.taylor_count``: through the model, array path against
  Mesa's agent-by-agent path (numpy and compiled), bit for bit.
* Logit trajectories against the direct sum: within the firm's price optimiser's tolerance.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from abm.simulation.dynamic_market import behaviours, kernels
from abm.simulation.dynamic_market.behaviours import Logit, SunkEntry
from abm.simulation.dynamic_market.model import DataMarketModel
from tests.test_behaviours import LOGIT, MIXED_SUNK_LOGIT, SUNK

MIXED = MIXED_SUNK_LOGIT


def _direct_count(rule: Logit, price: float) -> float:
    """The expected count as it was computed before the Taylor bins: every creator's term, summed."""
    return float(np.sum(expit((rule.payoff(price) - rule.options) / rule.temperature)))


@pytest.mark.parametrize("temperature", [1e-3, 1e-2, 0.1, 1.0])
@pytest.mark.parametrize("sampling", ["random", "quantile"])
@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_logit_expected_count_matches_the_sum_over_every_creator(temperature, sampling, compiled):
    model = DataMarketModel(agents=20_000, horizon=1.0, dt=0.1, rng=3, sampling=sampling, compiled=compiled,
                            innovators_behaviour_rule="logit", innovators_behaviour_temperature=temperature,
                            rank_and_file_behaviour_rule="logit", rank_and_file_behaviour_temperature=temperature)
    for rule in model.behaviour.rules:
        assert rule._taylor_bins() is not None  # the binned path is the one under test
        for price in np.concatenate([np.linspace(0.0, 2.0, 201), [1e-6, 5.0]]):
            direct = _direct_count(rule, price)
            assert rule.expected_count(price) == pytest.approx(direct, rel=1e-12, abs=1e-300)


def test_logit_expected_count_sums_every_term_when_bins_would_not_pay():
    model = DataMarketModel(agents=200, horizon=1.0, dt=0.1, rng=3, innovators_behaviour_rule="logit",
                            innovators_behaviour_temperature=1e-6, rank_and_file_behaviour_rule="logit",
                            rank_and_file_behaviour_temperature=1e-6)
    rule = model.behaviour.rules[0]
    assert rule._taylor_bins() is None
    assert rule.expected_count(0.7) == _direct_count(rule, 0.7)


def test_sigmoid_derivative_polynomials_match_finite_differences():
    x, h = 0.37, 1e-3
    s = expit(x)
    table = behaviours._SIGMOID_DERIVATIVES
    # central differences of the (n-1)-th derivative: error ~ h^2 times the (n+2)-th, below 1e-4 here
    for n in range(1, 6):
        lower, upper = (np.polynomial.polynomial.polyval(expit(x + d), table[n - 1]) for d in (-h, h))
        assert np.polynomial.polynomial.polyval(s, table[n]) == pytest.approx((upper - lower) / (2 * h), abs=1e-4)


def test_compiled_logit_probability_is_scipys_expit_bit_for_bit():
    if not kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(5)
    options = np.sort(rng.uniform(-1.0, 3.0, 200_000))
    draws = rng.random(options.size)
    for price, cost, temperature in ((0.8, 1.0, 0.01), (1.3, 2.0, 0.3), (0.05, 0.5, 1e-4), (1.0, 1.0, 30.0)):
        probability = expit((price * price / (2.0 * cost) - options) / temperature)
        near = draws.copy()  # draws within a few ulps of their probability: the screen must defer to them
        near[::7] = np.nextafter(probability[::7], (-1.0) ** np.arange(probability[::7].size))
        for uniforms in (draws, near):
            for ascending in (True, False):  # screened by blocks, and creator by creator
                active, effort = np.empty(options.size, dtype=bool), np.empty(options.size)
                kernels.logit_decide(price, cost, temperature, options, uniforms, active, effort, ascending)
                np.testing.assert_array_equal(active, uniforms < probability)
                np.testing.assert_array_equal(effort, np.where(active, price / cost, 0.0))
    # a draw equal to its probability, the closest call, decides the same way (stays out)
    options = 1.0 - np.linspace(-40.0, 40.0, 100_001)
    probability = expit((math.sqrt(2.0) ** 2 / 2.0 - options) / 1.0)
    active, effort = np.empty(options.size, dtype=bool), np.empty(options.size)
    kernels.logit_decide(math.sqrt(2.0), 1.0, 1.0, options[::-1].copy(), probability[::-1].copy(), active, effort,
                         True)
    assert not active.any()


def test_sunk_entry_active_set_is_the_prefix_that_enters_admits():
    model = DataMarketModel(agents=3000, horizon=1.0, dt=0.1, rng=11, **SUNK)
    rng = np.random.default_rng(2)
    for rule in model.behaviour.rules:
        assert isinstance(rule, SunkEntry)
        size = rule.stop - rule.start
        for _ in range(200):
            rule.incumbents = int(rng.integers(0, size + 1))
            rule.was_active[rule.start:rule.stop] = np.arange(size) < rule.incumbents
            entry_prices = rule.population.entry_price[rule.start:rule.stop]
            price = float(rng.choice(np.concatenate([rule.sunk_prices, entry_prices, rng.uniform(0.0, 2.0, 10)])))
            admitted = rule.enters(np.full(size, price), slice(rule.start, rule.stop))
            count = rule.active_count(price)
            assert admitted[:count].all() and not admitted[count:].any()


def _run(rules, compiled, stepping="array", agents=300, seed=7, horizon=5.0):
    model = DataMarketModel(agents=agents, horizon=horizon, dt=0.1, rng=seed, stepping=stepping, compiled=compiled,
                            **rules)
    return model, model.run()


@pytest.mark.slow
@pytest.mark.parametrize("rules", [LOGIT, SUNK, MIXED], ids=["logit", "sunk_entry", "sunk_entry+logit"])
@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
def test_array_path_equals_agent_by_agent_path(rules, compiled):
    if compiled and not kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    (array_model, array_run), (agent_model, agent_run) = (_run(rules, compiled, stepping)
                                                          for stepping in ("array", "agents"))
    pd.testing.assert_frame_equal(array_run, agent_run, check_exact=True)
    np.testing.assert_array_equal(array_model.population.stock, agent_model.population.stock)
    np.testing.assert_array_equal(array_model.population.active, agent_model.population.active)


@pytest.mark.slow
def test_reusing_the_sunk_entry_supply_curve_changes_nothing(monkeypatch):
    (_, reused) = _run(SUNK, compiled=False, agents=2000, horizon=10.0)
    monkeypatch.setattr(behaviours, "_supply_key", lambda rule: None)  # rebuild every round, as before
    (_, rebuilt) = _run(SUNK, compiled=False, agents=2000, horizon=10.0)
    pd.testing.assert_frame_equal(reused, rebuilt, check_exact=True)


@pytest.mark.slow
def test_logit_trajectory_moves_only_within_the_price_optimisers_resolution(monkeypatch):
    """Against the direct sum the expected counts differ by ~1e-16 relative, but the firm's bounded
    Brent search stops anywhere within its tolerance ``sqrt(eps) |p| + xatol / 3`` of the optimum,
    so the posted prices may move by up to twice that per search, four times between two runs."""
    _, binned = _run(LOGIT, compiled=False, agents=2000, horizon=10.0)
    monkeypatch.setattr(Logit, "expected_count", _direct_count)
    _, direct = _run(LOGIT, compiled=False, agents=2000, horizon=10.0)
    tolerance = 4.0 * (math.sqrt(np.finfo(float).eps) * direct["price"].abs() + 1e-10 / 3.0)
    assert (binned["price"] - direct["price"]).abs().le(tolerance).all()
    # stocks are averages of inflows proportional to the prices: precision moves by no more (relative)
    assert np.allclose(binned["precision"], direct["precision"], rtol=4.0 * math.sqrt(np.finfo(float).eps), atol=0.0)


def test_logit_draws_are_the_model_generators_uniforms_in_creator_order():
    model = DataMarketModel(agents=500, horizon=1.0, dt=0.1, rng=4, **LOGIT)
    state = model.rng.bit_generator.state
    model.behaviour.prepare()
    replay = np.random.Generator(type(model.rng.bit_generator)())
    replay.bit_generator.state = state
    for rule in model.behaviour.rules:
        np.testing.assert_array_equal(rule.draws, replay.random(rule.stop - rule.start))
