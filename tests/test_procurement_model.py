"""The procurement Mesa model: one round per step, Mesa's seeding, batch_run, the agents' books."""

import mesa
import numpy as np
import pytest

from abm.simulation.procurement import CreatorUnion, DataBroker, ProcurementModel
from abm.theory.procurement import (
    ROUND_MECHANISMS,
    evaluate_mechanisms,
    expectation,
    mechanism_round,
    sample_table1_market,
    social_cost_potential,
)


def _batch(parameters, iterations=3, steps=3):
    return mesa.batch_run(ProcurementModel, parameters, iterations=iterations, max_steps=steps,
                          number_processes=1, data_collection_period=1, display_progress=False)


def test_batch_run_gives_distinct_reproducible_runs():
    rows = _batch({"mechanism": ["M2", "M5"], "rounds": 3, "compare": False})
    assert len(rows) == 2 * 3 * 3
    for mechanism in ("M2", "M5"):
        runs = {}
        for row in rows:
            if row["mechanism"] == mechanism:
                runs.setdefault(row["iteration"], []).append(row)
        seeds = {run[0]["seed"] for run in runs.values()}
        assert len(seeds) == 3 and all(len({r["seed"] for r in run}) == 1 for run in runs.values())
        paths = [tuple(r["cost_0"] for r in run) for run in runs.values()]
        assert len(set(paths)) == 3
        for run in runs.values():  # the recorded seed reproduces the run
            replay = ProcurementModel(mechanism=mechanism, rounds=3, compare=False, rng=int(run[0]["seed"])).run()
            for key in ("cost_0", "cost_1", "revenue", "welfare"):
                np.testing.assert_array_equal(replay[key].to_numpy(), [r[key] for r in run])


@pytest.mark.slow
def test_batch_run_of_the_brief():
    rows = mesa.batch_run(ProcurementModel, {"mechanism": ["M1", "M2"], "rounds": 20}, iterations=3, max_steps=20,
                          number_processes=1, display_progress=False)
    assert len(rows) == 6 and len({row["seed"] for row in rows}) == 6
    assert len({(row["mechanism"], row["revenue"]) for row in rows}) == 6
    for row in rows:
        replay = ProcurementModel(mechanism=row["mechanism"], rounds=20, rng=int(row["seed"])).run()
        assert replay["revenue"].iloc[-1] == row["revenue"] and replay["welfare_M6"].iloc[-1] == row["welfare_M6"]


def test_fresh_seeds_are_recorded():
    first, second = ProcurementModel(mechanism="M2", rounds=1), ProcurementModel(mechanism="M2", rounds=1)
    assert isinstance(first.seed, int) and first.seed != second.seed
    table = first.run()
    assert table["seed"].iloc[0] == float(first.seed)
    replay = ProcurementModel(mechanism="M2", rounds=1, rng=first.seed).run()
    assert replay.equals(table)


@pytest.mark.parametrize("mechanism", ROUND_MECHANISMS)
def test_step_settles_with_mechanism_round(mechanism):
    model = ProcurementModel(mechanism=mechanism, draws_per_round=3, rounds=2, compare=False, rng=5)
    for _ in range(2):
        model.step()
        costs = model.round_costs()
        y, payments = mechanism_round(model.market, mechanism, costs)
        for creator in model.creators:
            k = creator.domain
            np.testing.assert_allclose(creator.payment, payments[:, k], rtol=1e-12)
            np.testing.assert_allclose(creator.allocation, y[:, k] ** (1 / model.market.rho[k]), rtol=1e-12)
            np.testing.assert_allclose(creator.utility, payments[:, k] - costs[:, k] * y[:, k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(model.platform.revenue, -payments.sum(axis=1), rtol=1e-12)
        assert model.running == (model.steps < 2)


def test_datacollector_columns_and_run_table():
    model = ProcurementModel(mechanism="M2", rounds=2, strategy="best_response", report_grid=3, rng=1)
    table = model.run()
    assert list(table.columns) == model.columns()
    assert table.equals(model.datacollector.get_model_vars_dataframe().reset_index(drop=True))
    assert set(f"revenue_{m}" for m in ROUND_MECHANISMS) <= set(table.columns)
    assert table["round"].tolist() == [1.0, 2.0] and not model.running
    np.testing.assert_allclose(table["revenue"], table["revenue_M2"], rtol=1e-12)
    # The other mechanisms, on the same reports, equal the analytic evaluation.
    costs = model.round_costs()
    outcomes = evaluate_mechanisms(model.market, costs)
    for name in ROUND_MECHANISMS:
        assert table[f"revenue_{name}"].iloc[-1] == pytest.approx(outcomes[name].revenue[0], rel=1e-10)
        assert table[f"welfare_{name}"].iloc[-1] == pytest.approx(outcomes[name].welfare[0], rel=1e-10)
    assert table["misreport_gain"].max() < 1e-7  # M2 is incentive compatible


def test_round_means_average_to_the_analytic_expectation():
    market = sample_table1_market(3)
    draws = 400
    table = ProcurementModel(market, mechanism="M2", draws_per_round=draws, rounds=1, compare=False, rng=9).run()
    model = ProcurementModel(market, mechanism="M2", draws_per_round=draws, rounds=1, compare=False, rng=9)
    model.step()
    revenue = model.platform.revenue
    def revenue_m2(costs):
        return -mechanism_round(market, "M2", costs)[1].sum(axis=1)

    coarse, fine = expectation(market, revenue_m2, nodes=6), expectation(market, revenue_m2, nodes=9)
    assert table["revenue"].iloc[0] == pytest.approx(revenue.mean(), rel=1e-12)
    assert abs(revenue.mean() - fine) <= 4 * revenue.std(ddof=1) / np.sqrt(draws) + abs(fine - coarse)


def test_union_and_broker_books():
    market = sample_table1_market(3)
    union_model = ProcurementModel(market, mechanism="M4", draws_per_round=5, rounds=1, compare=False, rng=0)
    union_model.step()
    assert isinstance(union_model.union, CreatorUnion)
    y_upper = social_cost_potential(market, market.upper[None])[1][0]
    np.testing.assert_allclose(union_model.union.received, market.upper @ y_upper, rtol=1e-12)
    alone = mechanism_round(market, "M2", union_model.round_costs())[1]
    for creator in union_model.creators:  # every member gets at least its M2 payment
        assert np.all(creator.payment >= alone[:, creator.domain] * (1 - 1e-12))
    broker_model = ProcurementModel(market, mechanism="M5", draws_per_round=5, rounds=2, compare=False, rng=0)
    table = broker_model.run()
    assert isinstance(broker_model.broker, DataBroker)
    np.testing.assert_allclose(table["broker_profit"], 0.0, atol=1e-12)  # Thm 3.3: the broker earns nothing
    np.testing.assert_allclose(table["revenue"], -broker_model.broker.transfer, rtol=1e-12)
    np.testing.assert_allclose(table["revenue"], -union_model.union.received[0], rtol=1e-10)  # Rev4 = Rev5


@pytest.mark.parametrize("mechanism,rounds", [("M2", 3), pytest.param("M1", 3, marks=pytest.mark.slow)])
def test_best_responses_are_truthful(mechanism, rounds):
    model = ProcurementModel(mechanism=mechanism, strategy="best_response", rounds=rounds, report_grid=10,
                             compare=False, rng=2)
    table = model.run()
    assert table["misreport_gain"].max() < 1e-7
    for k in range(model.market.n_domains):
        np.testing.assert_array_equal(table[f"report_{k}"], table[f"cost_{k}"])


def test_named_markets():
    assert ProcurementModel("overproduction", mechanism="M2", rounds=1, rng=0).market.mu[0, 1] == 1.0
    np.testing.assert_array_equal(ProcurementModel(market_seed=4, rounds=1, rng=0).market.demand,
                                  sample_table1_market(4).demand)


@pytest.mark.parametrize("kwargs,message", [
    ({"market": "table2"}, "market must be one of"),
    ({"mechanism": "M3"}, "M3 has only bounds"),
    ({"mechanism": "M7"}, "mechanism must be one of"),
    ({"draws_per_round": 0}, "draws_per_round must be an integer >= 1"),
    ({"rounds": 2.5}, "rounds must be an integer >= 1"),
    ({"strategy": "greedy"}, "strategy must be one of"),
    ({"market_seed": -1}, "market_seed must be an integer >= 0"),
    ({"report_grid": 0}, "report_grid must be an integer >= 1"),
    ({"compare": "yes"}, "compare must be True or False"),
    ({"rng": -3}, "rng must be None, an integer >= 0"),
])
def test_parameters_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProcurementModel(**kwargs)
