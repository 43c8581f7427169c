"""Learning creators (Hedge over shading factors) and the pay-as-bid comparison mechanism."""

import numpy as np
import pytest

from abm.simulation.procurement import ProcurementModel
from abm.simulation.procurement.learning import (
    HedgeLearner,
    LearningSettings,
    counterfactual_utilities,
    default_learning_rate,
    learning_runs,
    summarise_runs,
)
from abm.theory.procurement import MECHANISMS, mechanism_round, sample_table1_market, union_payment
from abm.theory.procurement.mechanisms import COMPARISON_MECHANISMS

MARKET = sample_table1_market(3)
#: Payments are accurate to about 1e-10 relative to the largest payment b . y(b) (docs/procurement.md);
#: a utility comparison is made with ten times that margin.
SCALE = union_payment(MARKET)
TOLERANCE = 1e-9 * SCALE
SMALL_GRID = (0.5, 1.0, 2.0)


def test_pay_as_bid_pays_the_bid_and_allocates_like_m2():
    reports = MARKET.sample_costs(6, np.random.default_rng(0))
    y, payments = mechanism_round(MARKET, "PAB", reports)
    y2, _ = mechanism_round(MARKET, "M2", reports)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(payments, reports * y)
    assert list(MECHANISMS) == ["M1", "M2", "M3", "M4", "M5", "M6"] and "PAB" in COMPARISON_MECHANISMS


@pytest.mark.parametrize(("field", "kwargs"), [
    ("shading_grid", {"shading_grid": (0.5, 2.0), "learning_rate": 1.0}),
    ("shading_grid", {"shading_grid": (1.0, 0.5), "learning_rate": 1.0}),
    ("shading_grid", {"shading_grid": (0.0, 1.0), "learning_rate": 1.0}),
    ("learning_rate", {"shading_grid": (0.5, 1.0), "learning_rate": 0.0}),
    ("learning_rate", {"shading_grid": (0.5, 1.0), "learning_rate": np.nan}),
])
def test_settings_name_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        LearningSettings(**kwargs)


def test_model_rejects_bad_learning_parameters():
    with pytest.raises(ValueError, match="creator_learning"):
        ProcurementModel(mechanism="M2", creator_learning="fictitious", rng=0)
    with pytest.raises(ValueError, match="creator_learning"):
        ProcurementModel(mechanism="M4", creator_learning="hedge", rng=0)
    with pytest.raises(ValueError, match="mechanism"):
        ProcurementModel(mechanism="M7", rng=0)


def test_hedge_update_is_exponential_in_cumulative_utility():
    """Closed form: w_g proportional to exp(eta sum_t u_gt / S)."""
    settings = LearningSettings(SMALL_GRID, 0.7)
    learner = HedgeLearner(settings, scale=2.0)
    utilities = np.random.default_rng(1).uniform(-1, 1, (5, 3))
    for row in utilities:
        learner.update(row)
    expected = np.exp(0.7 * utilities.sum(axis=0) / 2.0)
    np.testing.assert_allclose(learner.weights, expected / expected.sum(), rtol=1e-12)
    assert default_learning_rate(9, 200) == pytest.approx(np.sqrt(8 * np.log(9) / 200), rel=1e-15)


@pytest.mark.parametrize("mechanism", [pytest.param("M1", marks=pytest.mark.slow), "M2"])
def test_truth_is_a_best_factor_under_myerson_payments(mechanism):
    """Dominant-strategy IC: against any reports of the others, s = 1 earns the most."""
    rng = np.random.default_rng(2)
    costs, others = MARKET.sample_costs(4, rng), MARKET.sample_costs(4, rng)
    factors = np.array([0.5, 0.8, 1.0, 1.25, 2.0])
    for k in range(MARKET.n_domains):
        reports = others.copy()
        reports[:, k] = costs[:, k]
        utilities = counterfactual_utilities(MARKET, mechanism, costs, reports, k, factors)
        assert np.all(utilities[:, 2] >= utilities.max(axis=1) - TOLERANCE)


def test_truth_earns_nothing_under_pay_as_bid():
    costs = MARKET.sample_costs(4, np.random.default_rng(3))
    utilities = counterfactual_utilities(MARKET, "PAB", costs, costs, 0, np.array(SMALL_GRID))
    np.testing.assert_allclose(utilities[:, 1], 0.0, atol=1e-12 * SCALE)
    assert np.all(utilities[:, 2] > 0) and np.all(utilities[:, 0] < 0)


def test_learning_model_is_seeded_and_stores_weights():
    kwargs = dict(mechanism="PAB", rounds=4, compare=False, creator_learning="hedge", learning_rate=5.0,
                  shading_grid=SMALL_GRID, rng=11)
    first, second = ProcurementModel(**kwargs), ProcurementModel(**kwargs)
    table = first.run()
    assert table.equals(second.run()) and list(table.columns) == first.columns()
    for creator in first.creators:
        assert creator.learner.weights.shape == (3,) and creator.learner.weights.sum() == pytest.approx(1, rel=1e-12)
        assert len(creator.learner.utility_history) == 4
        np.testing.assert_allclose(table[f"report_{creator.domain}"] / table[f"cost_{creator.domain}"],
                                   table[f"shading_{creator.domain}"], rtol=1e-12)  # no clipping on this path


def test_truth_weight_ratio_never_falls_under_m2():
    """From DSIC: every round truth earns at least any factor, so w_truth / w_g is non-decreasing."""
    model = ProcurementModel(mechanism="M2", rounds=6, compare=False, creator_learning="hedge", learning_rate=20.0,
                             shading_grid=SMALL_GRID, rng=4)
    model.run()
    for creator in model.creators:
        history = np.log(np.asarray(creator.learner.weight_history + [creator.learner.weights]))
        ratios = history[:, 1:2] - history
        assert np.all(np.diff(ratios, axis=0) >= -20.0 * TOLERANCE / SCALE)


@pytest.mark.slow
def test_emergent_incentive_compatibility_over_seeds():
    """Five seeds, 60 rounds: under M2 no factor beats truth (gain 0 up to payment accuracy) and the
    learned weight on truth rises above the uniform 1/3; under pay-as-bid truth is beaten (CI above 0)
    and creators learn to shade up (CI of the expected factor and of report/cost above 1)."""
    runs = learning_runs(("M2", "PAB"), seeds=range(5), rounds=60, learning_rate=20.0, shading_grid=SMALL_GRID)
    summary = summarise_runs(runs).set_index(["mechanism", "domain"])
    m2, pab = runs[runs.mechanism == "M2"], runs[runs.mechanism == "PAB"]
    assert np.all(m2["truth_gain"] <= TOLERANCE) and np.all(m2["truthful_weight"] > 1 / 3)
    for k in range(MARKET.n_domains):
        row = summary.loc[("PAB", k)]
        assert row["truth_gain_lower"] > 0 and row["mean_shading_lower"] > 1 and row["report_ratio_lower"] > 1
    assert np.all(pab["truthful_weight"] < 1 / 3)


def test_learning_runs_under_batch_run():
    import mesa

    rows = mesa.batch_run(ProcurementModel, {"mechanism": "PAB", "rounds": 2, "compare": False,
                                             "creator_learning": "hedge", "shading_grid": [SMALL_GRID],
                                             "learning_rate": 5.0}, iterations=2, max_steps=2,
                          number_processes=1, display_progress=False)
    assert len(rows) == 2 and len({row["seed"] for row in rows}) == 2
    assert all(row["shading_0"] in SMALL_GRID for row in rows)
