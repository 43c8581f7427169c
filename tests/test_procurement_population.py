"""Many creators per domain (the procurement paper's Appendix C.4): the allocation over all
creators, Myerson payments per creator, the mechanisms at this scale, the meta-creator
aggregation, and the Mesa model with ``creators_per_domain``.

Reference values come from independent computations named beside them: the one-creator
mechanisms of :mod:`abm.theory.procurement.mechanisms` (``n_k = 1``), ``scipy.optimize``
on the full program over all creators, and ``scipy.integrate.quad`` of allocations solved
from scratch.
"""

import mesa
import numpy as np
import pytest
from scipy import integrate, optimize

from abm.simulation.procurement import ProcurementModel
from abm.simulation.procurement.population import PopulationProcurementModel
from abm.theory.procurement import mechanism_round, myerson_payments, sample_table1_market
from abm.theory.procurement.payments import _identity
from abm.theory.procurement.population import (
    Population,
    creators_per_domain,
    meta_costs,
    meta_outcomes,
    myerson_population,
    population_allocation,
    population_round,
)

MARKET = sample_table1_market(3)  # K = 2: domain 0 truncated normal on [0, 10], domain 1 uniform on [0, 1]


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, fragment", [
    (0, "integer >= 1"), (1.5, "integer >= 1"), (True, "integer >= 1"), ("3", "integer >= 1"),
    ([1, 2, 3], "one integer per domain (2 domains), got 3 entries"), ([2, 0], "integer >= 1"),
])
def test_bad_creators_per_domain_is_refused_with_its_name(value, fragment):
    with pytest.raises(ValueError, match="creators_per_domain") as error:
        creators_per_domain(value, 2)
    assert fragment in str(error.value)
    with pytest.raises(ValueError, match="creators_per_domain"):
        ProcurementModel(creators_per_domain=value, rng=0)


def test_a_linear_cost_domain_cannot_be_split():
    market = sample_table1_market(3)
    linear = type(market)(market.demand, [1.0, 1.2], market.mu, market.gamma, market.costs)
    with pytest.raises(ValueError, match="rho_k > 1"):
        Population(linear, 2)
    assert Population(linear, [1, 2]).sizes == (1, 2)


# --- the allocation over all creators ----------------------------------------------------------------


def _direct_allocation(population, weights):
    """The Appendix C.4 program over every creator's x, by SLSQP from a feasible start."""
    market, domain = population.market, population.domain
    rho = market.rho[domain]

    def totals(x):
        return np.bincount(domain, x, minlength=market.n_domains)

    def slack(x):
        total = totals(x)
        return total + (market.mu * np.power(total[:, None], market.gamma)).sum(axis=0) - market.demand

    start = np.repeat(market.demand / np.asarray(population.sizes), population.sizes)
    result = optimize.minimize(lambda x: weights @ x**rho, start, method="SLSQP", bounds=[(0, None)] * start.size,
                               constraints=[{"type": "ineq", "fun": slack}], options={"ftol": 1e-14, "maxiter": 500})
    assert result.success, result.message
    return result.x


@pytest.mark.parametrize("sizes, seed", [((2, 3), 0), ((3, 2), 1), ((4, 4), 2)])
def test_allocation_over_all_creators_matches_direct_optimisation(sizes, seed):
    population = Population(MARKET, sizes)
    weights = population.sample_costs(1, seed)
    x, totals, _ = population_allocation(population, weights)
    direct = _direct_allocation(population, weights[0])
    rho = population.spread(MARKET.rho)
    ours, theirs = weights[0] @ x[0] ** rho, weights[0] @ direct**rho
    # SLSQP stops at ftol 1e-14 on the objective; ours is a KKT point (exact to ~1e-13), so it
    # cannot be worse than SLSQP's beyond rounding, and SLSQP gets within 1e-8 of it.
    assert ours <= theirs * (1 + 1e-10)
    assert theirs == pytest.approx(ours, rel=1e-8)
    # Quantities: an error eps in the objective allows about sqrt(eps) in x.
    np.testing.assert_allclose(x[0], direct, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(totals[0], np.bincount(population.domain, x[0]), rtol=1e-13)


def test_meta_creator_gives_the_same_allocation_and_social_cost():
    population = Population(MARKET, (5, 7))
    costs = population.sample_costs(20, 4)
    x, totals, _ = population_allocation(population, costs)
    meta = meta_costs(population, costs)
    meta_x, _, _ = population_allocation(Population(MARKET, 1), meta)
    np.testing.assert_allclose(totals, meta_x, rtol=1e-12)
    rho = population.spread(MARKET.rho)
    np.testing.assert_allclose(np.sum(costs * x**rho, axis=1), np.sum(meta * meta_x**MARKET.rho, axis=1), rtol=1e-12)


# --- payments -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [pytest.param("virtual", marks=pytest.mark.slow), "cost"])
def test_one_creator_per_domain_is_the_representative_model(rule):
    costs = MARKET.sample_costs(12, 7)
    payments, y, errors = myerson_population(Population(MARKET, 1), costs, rule, full_output=True)
    weight_of = MARKET.virtual_cost if rule == "virtual" else _identity
    # The representative model's payments (adaptive quadrature or exact potential differences).
    expected = myerson_payments(MARKET, costs, weight_of)
    # Both payment rules are accurate to about 1e-10 (their quadrature tolerances; the meta
    # curve to 1e-9 in log y): agreement to 1e-8.
    np.testing.assert_allclose(payments, expected, rtol=1e-8)
    np.testing.assert_allclose(y, mechanism_round(MARKET, "M1" if rule == "virtual" else "M2", costs)[0], rtol=1e-12)
    assert np.all(errors <= 1e-8 * payments)


@pytest.mark.parametrize("rule, creator", [("cost", 1), pytest.param("virtual", 0, marks=pytest.mark.slow),
                                           pytest.param("virtual", 4, marks=pytest.mark.slow)])
def test_each_creator_is_paid_its_own_myerson_integral(rule, creator):
    population = Population(MARKET, (3, 2))
    costs = population.sample_costs(1, 11)
    payments, y, errors = myerson_population(population, costs, rule, full_output=True)
    k = population.domain[creator]

    def weight(t, domain):
        return np.asarray(t, dtype=float) if rule == "cost" else MARKET.costs[domain].virtual_cost(t)

    base = np.array([weight(c, d) for c, d in zip(costs[0], population.domain)])

    def own_allocation(t):  # solved from scratch (barrier + polish), no meta curve
        weights = base.copy()
        weights[creator] = weight(t, k)
        x, _, _ = population_allocation(population, weights[None])
        return x[0, creator] ** MARKET.rho[k]

    points = np.geomspace(costs[0, creator], MARKET.upper[k], 12)[1:-1]
    reference, _ = integrate.quad(own_allocation, costs[0, creator], MARKET.upper[k], points=points, limit=400,
                                  epsabs=1e-13, epsrel=1e-11)
    assert payments[0, creator] - costs[0, creator] * y[0, creator] == pytest.approx(reference, rel=1e-8, abs=1e-13)
    assert errors[0, creator] <= 1e-8 * max(reference, 1e-300) + 1e-13


def test_truthful_reporting_is_a_best_response_for_a_creator_among_many():
    population = Population(MARKET, (2, 3))
    costs = population.sample_costs(3, 5)
    creator, k = 3, 1
    grid = np.linspace(0.05, 1.0, 8)
    reports = np.repeat(costs, grid.size + 1, axis=0)
    reports[:, creator] = np.concatenate([[c, *grid] for c in costs[:, creator]])
    y, payments = population_round(population, "M2", reports)
    utility = (payments[:, creator] - np.repeat(costs[:, creator], grid.size + 1) * y[:, creator]).reshape(3, -1)
    # Dominant-strategy IC (Myerson): no report beats the truth beyond the payments' accuracy.
    assert np.all(utility[:, 1:] <= utility[:, :1] + 1e-9 * np.abs(utility[:, :1]) + 1e-12)


# --- the meta-creator anchor ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(2, 2), (3, 10)])
def test_meta_creator_coincides_where_the_paper_says(sizes):
    population = Population(MARKET, sizes)
    costs = population.sample_costs(15, 8)
    mean = meta_costs(population, population.sample_costs(2000, 9)).mean(axis=0)
    meta = meta_outcomes(population, costs, mean)
    for name in ("M2", "M4", "M5"):
        y, payments = population_round(population, name, costs)
        welfare = -(costs * y).sum(axis=1)
        if name in ("M2", "M4"):  # the same allocation, split by cost within each domain
            np.testing.assert_allclose(welfare, meta[name].welfare, rtol=1e-10)
        if name in ("M4", "M5"):  # b . y(b): path independent (Lemma 2.3) / the broker's posted price
            np.testing.assert_allclose(-payments.sum(axis=1), meta[name].revenue, rtol=1e-10)
    # The broker's split is fixed before costs are drawn: its creators produce equal shares,
    # which costs more than the meta creator's split by cost.
    y5, _ = population_round(population, "M5", costs)
    assert np.all(-(costs * y5).sum(axis=1) <= meta["M5"].welfare + 1e-12)
    # Many creators earn less information rent than one meta creator with their summed cost.
    _, payments2 = population_round(population, "M2", costs)
    assert -payments2.sum(axis=1).mean() > meta["M2"].revenue.mean()


@pytest.mark.slow
def test_meta_creator_coincides_with_one_creator_per_domain():
    population = Population(MARKET, 1)
    costs = population.sample_costs(10, 3)
    meta = meta_outcomes(population, costs, MARKET.mean_cost)
    for name in ("M2", "M4", "M5", "M6"):
        y, payments = population_round(population, name, costs)
        np.testing.assert_allclose(-payments.sum(axis=1), meta[name].revenue, rtol=1e-8)
        np.testing.assert_allclose(-(costs * y).sum(axis=1), meta[name].welfare, rtol=1e-12)


# --- the Mesa model -----------------------------------------------------------------------------------


def test_one_creator_per_domain_is_todays_model_exactly():
    default = ProcurementModel(mechanism="M2", rounds=3, rng=5, compare=False)
    explicit = ProcurementModel(mechanism="M2", rounds=3, rng=5, compare=False, creators_per_domain=[1, 1])
    assert type(explicit) is ProcurementModel and explicit.creators_per_domain == (1, 1)
    assert default.run().equals(explicit.run())


def test_population_model_books_agree_with_the_theory():
    model = ProcurementModel(mechanism="M2", rounds=2, rng=3, creators_per_domain=[2, 3], draws_per_round=2,
                             compare=False)
    assert isinstance(model, PopulationProcurementModel)
    assert len(model.domain_creators) == 5 and len(model.agents) == 5
    table = model.run()
    assert list(table["round"]) == [1.0, 2.0]
    # Replaying the generator reproduces the last round's costs; the theory gives its revenue.
    replay = ProcurementModel(mechanism="M2", rounds=2, rng=3, creators_per_domain=[2, 3], draws_per_round=2,
                              compare=False)
    replay.population.sample_costs(2, replay.rng)
    costs = replay.population.sample_costs(2, replay.rng)
    np.testing.assert_array_equal(np.column_stack([c.cost for c in model.domain_creators]), costs)
    y, payments = population_round(model.population, "M2", costs)
    assert table["revenue"].iloc[-1] == pytest.approx(-payments.sum(axis=1).mean(), rel=1e-12)
    assert table["payment_1"].iloc[-1] == pytest.approx(payments[:, 2:].sum(axis=1).mean(), rel=1e-12)
    assert table["welfare"].iloc[-1] == pytest.approx(-(costs * y).sum(axis=1).mean(), rel=1e-12)


@pytest.mark.parametrize("parameters, fragment", [
    ({"strategy": "best_response"}, "strategy must be 'truthful' when creators_per_domain > 1"),
    ({"mechanism": "PAB"}, "mechanism must be one of ['M1', 'M2', 'M4', 'M5', 'M6'] when creators_per_domain > 1"),
    ({"creator_learning": "hedge"}, "creator_learning cannot be used with creators_per_domain > 1"),
])
def test_population_model_refuses_what_it_does_not_implement(parameters, fragment):
    with pytest.raises(ValueError) as error:
        ProcurementModel(creators_per_domain=2, rng=0, **parameters)
    assert fragment in str(error.value)


@pytest.mark.slow
def test_batch_run_over_creators_per_domain():
    results = mesa.batch_run(ProcurementModel, {"mechanism": "M5", "rounds": 2, "compare": False,
                                                "creators_per_domain": [1, 4]},
                             iterations=2, max_steps=2, number_processes=1, display_progress=False)
    by_size = {}
    for row in results:
        by_size.setdefault(row["creators_per_domain"], []).append(row)
    # Two runs per size, one row each (batch_run keeps the last step by default).
    assert sorted(by_size) == [1, 4] and all(len(rows) == 2 for rows in by_size.values())
    assert len({row["seed"] for row in results}) == 4
    assert all(row["creators_0"] == 4.0 for row in by_size[4])
    assert all("creators_0" not in row or np.isnan(row["creators_0"]) for row in by_size[1])
    # M5's revenue is the contract's -b . y(b), the same in every round and run of a size.
    for rows in by_size.values():
        assert len({round(row["revenue"], 12) for row in rows}) == 1
    assert by_size[4][0]["revenue"] == pytest.approx(
        -float(Population(MARKET, 4).spread(MARKET.upper)
               @ population_round(Population(MARKET, 4), "M5", np.ones((1, 8)) * 0.5)[0][0]), rel=1e-12)
