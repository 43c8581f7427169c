"""The static market in rounds: the learning firm settles at the Stackelberg efforts."""

import numpy as np
from hypothesis import given, settings

from abm.simulation.static_market.model import learn_static_prices
from tests.strategies import markets


@settings(max_examples=15)
@given(markets())
def test_tatonnement_settles_at_the_stackelberg_efforts(market):
    rounds = learn_static_prices(market, rounds=400, rng=0)
    assert rounds["effort_gap"].iloc[-1] < 1e-6
    assert rounds["effort_gap"].iloc[-1] < rounds["effort_gap"].iloc[0]
    assert np.all(np.isfinite(rounds.to_numpy()))
