"""Myerson payment integrals with error control, against an independent reference.

The reference is ``scipy.integrate.quad`` per draw (split at the kinks, ``epsabs=1e-12,
epsrel=1e-11``), evaluating ``y_k`` pointwise through the barrier method and KKT polish;
the adaptive rule must agree to 1e-8 relative on every draw of the Table 1 market.
"""

import warnings

import numpy as np
import pytest

from abm.theory.procurement import (
    QuadratureWarning,
    allocation_of,
    integrate_adaptive,
    locate_kinks,
    myerson_payments,
    payment_integrals,
    reference_integrals,
    sample_table1_market,
)

TARGET = 1e-8  # agreement with quad, relative, on every draw
MARKET = sample_table1_market(3)


#: Constructed draws: ``c_1`` at 1e-6 of its support, with two kinks 5e-4 apart right above it;
#: then tiny costs with kinks further apart, and no kink at all. The fixed rule shipped
#: before (12 grid intervals, one kink split each, 8 nodes) erred by 99%, 26%, 3e-3, 2e-4,
#: 1e-2 and 95% on these.
CONSTRUCTED = np.array([[1e-5, 1e-4], [1e-5, 1e-3], [1e-5, 0.05], [1e-5, 0.9], [1e-3, 0.01], [1e-3, 1e-4]])


def _table1_subsample(smallest: int, several: int, others: int, seed: int = 0):
    """Draws of Table 1's market: the smallest ``c_1``, some with two kinks, some others."""
    costs = MARKET.sample_costs(1000, np.random.default_rng(seed))
    low = np.argsort(costs[:, 0])[:smallest]
    scanned = 100 if several <= 2 else 400
    kinks = locate_kinks(MARKET, MARKET.virtual_cost, costs[:scanned], 0).kinks
    two = np.setdiff1d(np.flatnonzero(kinks >= 2), low)[:several]
    rest = np.setdiff1d(np.arange(scanned, 1000, 37), np.concatenate([low, two]))[:others]
    assert len(two) == several
    return costs[np.concatenate([low, two, rest])]


def _check_against_quad(costs):
    ours = payment_integrals(MARKET, MARKET.virtual_cost, costs, 0)
    exact = reference_integrals(MARKET, MARKET.virtual_cost, costs, 0)
    error = np.abs(ours.value / exact - 1)
    assert ours.converged.all()
    worst = np.argmax(error)
    assert error.max() <= TARGET, f"worst draw {worst}: cost {costs[worst]}, error {error.max():.2e}"
    # The error estimate is honest: it bounds the actual error (up to quad's own tolerance).
    assert np.all(np.abs(ours.value - exact) <= ours.error + 1e-11 * np.abs(exact))


@pytest.mark.slow
def test_table1_subsample_and_constructed_draws_match_quad():
    """2 draws with the smallest c_1, 2 with two kinks, 1 other, 2 constructed (quad costs
    about 50 ms per round of pooled evaluations; the slow tests check many more draws)."""
    _check_against_quad(np.concatenate([_table1_subsample(2, 2, 1), CONSTRUCTED[[0, 4]]]))


@pytest.mark.slow
def test_larger_subsample_and_all_constructed_draws_match_quad():
    """30 draws: the 10 smallest c_1, 10 with two kinks, 10 others; and every constructed draw."""
    _check_against_quad(np.concatenate([_table1_subsample(10, 10, 10), CONSTRUCTED]))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_table1_draw_matches_quad(seed):
    _check_against_quad(MARKET.sample_costs(1000, np.random.default_rng(seed)))


def test_kinks_of_the_constructed_draws():
    kinks = locate_kinks(MARKET, MARKET.virtual_cost, CONSTRUCTED, 0)
    np.testing.assert_array_equal(kinks.kinks, [2, 2, 2, 2, 2, 0])
    first, second = kinks.edges[0, 1:3]
    assert first < 2e-5 and second - first < 6e-4  # both in the first interval of the old grid (width 0.83)


def test_kinks_are_where_the_binding_set_changes():
    costs = np.array([[1e-5, 1e-4], [0.3, 0.5], [0.69320904, 0.14415961]])
    search = locate_kinks(MARKET, MARKET.virtual_cost, costs, 0, xtol=1e-9)
    for row, cost in enumerate(costs):
        edges = search.edges[row][np.isfinite(search.edges[row])]
        for kink in edges[1:-1]:
            step = 1e-8 * (MARKET.upper[0] - cost[0])
            sides = np.repeat(cost[None], 2, axis=0)
            sides[:, 0] = kink - step, kink + step
            x = allocation_of(MARKET, MARKET.virtual_cost, sides) ** (1 / MARKET.rho)
            binding = MARKET.slack(x) < 1e-7 * (1 + MARKET.demand)
            assert np.any(binding[0] != binding[1])


def test_myerson_payments_report_their_error_and_use_one_generator():
    costs = MARKET.sample_costs(3, np.random.default_rng(1))
    payments, errors = myerson_payments(MARKET, costs, MARKET.virtual_cost, full_output=True)
    assert np.all(errors[:, 0] <= 1e-10 * payments[:, 0]) and np.all(errors[:, 1] == 0)  # domain 2: exact
    randomized = myerson_payments(MARKET, costs, MARKET.virtual_cost, method="randomized", rng=7, trials=5)
    generator, expected = np.random.default_rng(7), costs * allocation_of(MARKET, MARKET.virtual_cost, costs)
    for k in range(2):  # one generator, domains in order: the domains do not share their draws
        draws = generator.uniform(costs[:, k, None], MARKET.upper[k], (3, 5))
        points = np.repeat(costs[:, None, :], 5, axis=1)
        points[:, :, k] = draws
        at_draws = allocation_of(MARKET, MARKET.virtual_cost, points)[..., k]
        expected[:, k] += (MARKET.upper[k] - costs[:, k]) * at_draws.mean(axis=1)
    np.testing.assert_allclose(randomized, expected, rtol=1e-12)


def test_impossible_tolerance_warns():
    with pytest.warns(QuadratureWarning, match="missed the tolerance"):
        payment_integrals(MARKET, MARKET.virtual_cost, [[0.5, 0.5]], 0, rtol=1e-18, max_rounds=4)
    with pytest.raises(ArithmeticError, match="within the work bound"):
        payment_integrals(MARKET, MARKET.virtual_cost, [[0.5, 0.5]], 0, rtol=1e-18, max_rounds=4, on_failure="raise")


def test_reported_costs_must_be_positive():
    with pytest.raises(ValueError, match="must lie in"):
        payment_integrals(MARKET, MARKET.virtual_cost, [[0.0, 0.5]], 0)


# --- the integrator on its own ----------------------------------------------------------------------


def _power(rows, t, hint):
    exponent = np.array([-0.9, 0.5, 2.0])[rows]
    return t ** exponent[:, None], hint


def test_integrator_on_power_laws_near_zero():
    """``int_{1e-9}^1 t^p dt`` for p = -0.9, 0.5, 2 (the first changes by 1e8 across the range)."""
    lower = 1e-9
    result = integrate_adaptive(_power, np.array([[lower, 1.0]] * 3), rtol=1e-12)
    exponents = np.array([-0.9, 0.5, 2.0])
    exact = (1 - lower ** (exponents + 1)) / (exponents + 1)
    np.testing.assert_allclose(result.value, exact, rtol=1e-12)
    assert result.converged.all() and np.all(result.error <= 1e-12 * exact)
    assert result.intervals.max() <= 8  # in log t these are exponentials: a few intervals suffice


def test_integrator_on_kinks_with_and_without_break_points():
    def absolute(rows, t, hint):
        return np.abs(t - 0.3), hint

    exact = 0.5 * (0.3**2 + 0.7**2)
    with_break = integrate_adaptive(absolute, np.array([[0.0, 0.3, 1.0]]), rtol=1e-13, log_map=False)
    without = integrate_adaptive(absolute, np.array([[0.0, 1.0]]), rtol=1e-13, log_map=False)
    assert with_break.intervals[0] == 2 and with_break.value[0] == pytest.approx(exact, rel=1e-14)
    assert without.value[0] == pytest.approx(exact, rel=1e-12)  # the error estimate finds the kink
    assert without.intervals[0] > 10


def test_integrator_options_are_validated():
    with pytest.raises(ValueError, match="on_failure"):
        integrate_adaptive(_power, np.array([[0.1, 1.0]]), on_failure="shout")
    with pytest.raises(ValueError, match="rtol and atol"):
        integrate_adaptive(_power, np.array([[0.1, 1.0]]), rtol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = integrate_adaptive(_power, np.array([[1.0, 1.0]]))
    assert empty.value[0] == 0.0 and empty.converged[0]
