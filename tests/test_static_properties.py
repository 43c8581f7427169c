"""Propositions 3 and 4 as properties over random markets (hypothesis)."""

import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from abm.theory.static import originality_penalty, social_optimum, stackelberg
from tests.strategies import markets

# Loadings on a 1e-3 grid: distinct enough that the ratios differ in floating point.
distinct_loadings = hnp.arrays(
    np.float64, st.integers(2, 25), elements=st.integers(0, 2000).map(lambda k: k / 1000), unique=True
)


@given(markets())
def test_market_precision_is_below_the_optimum(market):
    """Prop. 3: P(e^M) < P(e^S); the market also has lower welfare."""
    market_outcome, optimum = stackelberg(market), social_optimum(market)
    assert market_outcome.converged and optimum.converged
    assert market_outcome.precision < optimum.precision
    assert market_outcome.welfare <= optimum.welfare + 1e-12


@given(markets(beta=distinct_loadings))
def test_penalty_is_strictly_increasing_in_beta(market):
    """Prop. 4: e^M_i / e^S_i strictly increases with beta_i.

    The proof needs a positive GLS weight at the optimum, ``lambda^S beta_i < 1``; beyond it
    the ratio is not monotone (see ``test_static.py::test_penalty_beyond_the_weight_sign_change``).
    """
    positive_weight = social_optimum(market).lam * market.beta < 1
    order = np.argsort(market.beta[positive_weight])
    ratios = originality_penalty(market)[positive_weight][order]
    assert np.all(np.diff(ratios) > 0)


@given(markets())
def test_penalty_is_exactly_half_for_innovators(market):
    """Prop. 4: an innovator with beta = 0 gets exactly half its efficient effort, whatever the others."""
    with_innovator = type(market)(np.append(market.beta, 0.0), market.cost, market.sigma2, market.value)
    assert originality_penalty(with_innovator)[-1] == 0.5


@given(markets())
def test_equilibria_satisfy_their_first_order_conditions(market):
    """Lemma 10: lambda reproduces itself when recomputed from the efforts."""
    for outcome in (stackelberg(market), social_optimum(market)):
        assert outcome.residual < 1e-9
