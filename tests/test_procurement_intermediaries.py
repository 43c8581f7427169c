"""A broker that prices and re-estimates, a union whose members can leave (issue 18, part 2)."""

import numpy as np
import pytest
from scipy import integrate, optimize

from abm.simulation.procurement import ProcurementModel
from abm.theory.procurement import UniformCost, mechanism_round, sample_table1_market, union_payment
from abm.theory.procurement.intermediaries import (
    coalition_payment,
    empirical_posted_price,
    optimal_posted_price,
    unit_profit,
)

MARKET = sample_table1_market(3)
SCALE = union_payment(MARKET)


def test_coalition_payment_is_myerson_alone_and_lemma_2_3_together():
    costs = MARKET.sample_costs(6, np.random.default_rng(0))
    _, m2 = mechanism_round(MARKET, "M2", costs)
    for k in range(MARKET.n_domains):
        np.testing.assert_allclose(coalition_payment(MARKET, costs, [k]), m2[:, k], rtol=1e-10)
    np.testing.assert_allclose(coalition_payment(MARKET, costs, [0, 1]), SCALE, rtol=1e-12)


def test_optimal_posted_price_against_direct_maximisation():
    """Closed form for U[0, 1]: q* = P / 2; truncated normal: bounded maximisation of the profit
    with the CDF integrated by quad from the density."""
    assert optimal_posted_price(UniformCost(0, 1), 1.5) == pytest.approx(0.75, abs=1e-10)
    assert optimal_posted_price(UniformCost(0, 1), 2.5) == 1.0  # P >= b + 1/f(b) = 2
    assert optimal_posted_price(UniformCost(0, 1)) == 1.0
    normal = MARKET.costs[0]
    penalty = 1.2 * normal.high

    def loss(q):
        share = integrate.quad(lambda t: float(normal.pdf(np.array([t]))[0]), normal.low, q, epsabs=1e-13)[0]
        return -float(unit_profit(q, share, normal.high, penalty))

    direct = optimize.minimize_scalar(loss, bounds=(normal.low, normal.high), method="bounded",
                                      options={"xatol": 1e-9}).x
    assert optimal_posted_price(normal, penalty) == pytest.approx(direct, abs=1e-6)
    with pytest.raises(ValueError, match="penalty"):
        optimal_posted_price(normal, 0.5 * normal.high)


def test_empirical_price_is_near_optimal_by_dkw():
    """|pi_hat - pi| <= P sup|F_tilde - F|; sup|F_tilde - F_hat| <= 1/(n+1) and DKW: sup|F_hat - F| <=
    sqrt(ln(2/alpha) / 2n) with probability 1 - alpha (alpha = 1e-6). With eps the sum, the chosen price's
    true profit is within 2 P eps of the best and its estimate within P eps."""
    n, penalty, alpha = 2000, 1.5, 1e-6
    samples = UniformCost(0, 1).sample(n, np.random.default_rng(4))
    price, estimated = empirical_posted_price(samples, 1.0, penalty)
    eps = np.sqrt(np.log(2 / alpha) / (2 * n)) + 1 / (n + 1)
    best = float(unit_profit(0.75, 0.75, 1.0, penalty))
    assert float(unit_profit(price, price, 1.0, penalty)) >= best - 2 * penalty * eps
    assert abs(estimated - best) <= penalty * eps


def test_broker_that_must_deliver_is_the_one_shot_m5_m6():
    """A prohibitive outside price (P = 100 b_k: posting the largest of n costs seen would save at most
    b_k but risk P b_k / (n + 1) with n <= 12) makes the broker post b_k: every round equals mechanism_round of the paper's M5 / M6, profit 0."""
    for mechanism in ("M5", "M6"):
        model = ProcurementModel(mechanism=mechanism, rounds=5, draws_per_round=3, compare=False,
                                 broker_penalty=100.0, rng=2)
        table = model.run()
        costs = model.round_costs()
        y, payments = mechanism_round(MARKET, mechanism, costs)
        np.testing.assert_array_equal(model.broker.prices, MARKET.upper)
        np.testing.assert_allclose(np.column_stack([c.payment for c in model.creators]), payments, rtol=1e-12)
        np.testing.assert_allclose(table["broker_profit"], 0.0, atol=1e-12 * SCALE)
        assert set(table["broker_contract_mean"]) == {float(mechanism == "M6")}


def test_acting_broker_learns_the_posted_price():
    """After 400 draws per domain the broker's price in the uniform domain is within the DKW
    band of q* = P/2 in profit (alpha = 1e-6), and its realised mean profit is positive."""
    model = ProcurementModel(mechanism="M6", rounds=40, draws_per_round=10, compare=False, broker_penalty=1.5, rng=3)
    table = model.run()
    n = 400
    eps = np.sqrt(np.log(2 / 1e-6) / (2 * n)) + 1 / (n + 1)
    price = model.broker.prices[1]
    assert float(unit_profit(price, price, 1.0, 1.5)) >= float(unit_profit(0.75, 0.75, 1.0, 1.5)) - 2 * 1.5 * eps
    assert table["broker_profit"].iloc[1:].mean() > 0


def test_union_with_proportional_shares_keeps_everyone_and_is_m4():
    model = ProcurementModel(mechanism="M4", rounds=4, draws_per_round=3, compare=False, union_exit=True, rng=5)
    table = model.run()
    assert set(table["union_size"]) == {2.0}
    _, payments = mechanism_round(MARKET, "M4", model.round_costs())
    np.testing.assert_allclose(np.column_stack([c.payment for c in model.creators]), payments, rtol=1e-10)


def test_union_with_equal_shares_follows_the_exit_rule():
    """Under equal shares the stated rule is checked directly: a member leaves exactly when its
    M2 payment beats its share on the round's draws."""
    model = ProcurementModel(mechanism="M4", rounds=6, draws_per_round=3, compare=False, union_sharing="equal",
                             union_exit=True, rng=0)
    for _ in range(6):
        before = set(model.union.members)
        model.step()
        if before == {0, 1}:
            _, m2 = mechanism_round(MARKET, "M2", model.round_costs())
            share = SCALE / 2
            gains = m2.mean(axis=0) - share
            expected = {0, 1} - ({int(np.argmax(gains))} if gains.max() > 1e-7 * SCALE else set())
            assert model.union.members == expected
    with pytest.raises(ValueError, match="union_sharing"):
        ProcurementModel(mechanism="M4", union_sharing="auction", rng=0)
    with pytest.raises(ValueError, match="broker_penalty"):
        ProcurementModel(mechanism="M2", broker_penalty=2.0, rng=0)
