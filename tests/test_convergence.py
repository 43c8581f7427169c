"""Seeded statistical checks: the agent-based market converges to its fluid limit.

Two sources of error are separated. Against :func:`fluid_rounds` (same rounds, exact supply
curves) only the finite population matters; against the ODE the round length adds O(dt)
(checked in ``test_fluid.py``).

Expected rate in the population size N. Outside options drawn at random make the agents'
supply curve differ from N_k(p) by a Brownian-bridge error of order N^{-1/2}. The myopic
firm maximises profit against that empirical curve, and the maximiser of a smooth concave
function plus such noise moves by order N^{-1/3} (cube-root asymptotics of an argmax,
Kim & Pollard 1990), so the price converges at rate N^{-1/3}; the stocks integrate the
supply errors of many rounds, which partly average out, so their rate lies between
N^{-1/3} and N^{-1/2}. The issue that asked for this check expected -1/2; the measured
exponents are in docs/validation.md.
"""

import numpy as np
import pytest

from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import sup_distances
from abm.theory.fluid import solve_fluid
from analysis.validation import STATE, population_convergence
from tests.markets import curse_market, scenario


@pytest.mark.slow
def test_distance_to_the_fluid_limit_shrinks_with_the_population():
    measured = population_convergence(curse_market(), populations=(1000, 4000, 16000, 64000), replications=8)
    state_slope, state_error = measured["state_slope"], measured["state_stderr"]
    price_slope, price_error = measured["price_slope"], measured["price_stderr"]
    # Three standard errors of the fitted slopes (32 runs) around the theoretical exponents.
    assert state_slope + 3 * state_error < 0, "the state does not converge"
    assert -0.5 - 3 * state_error <= state_slope <= -1 / 3 + 3 * state_error, (state_slope, state_error)
    assert abs(price_slope - (-1 / 3)) <= 3 * price_error, (price_slope, price_error)


@pytest.mark.slow
def test_more_agents_and_shorter_rounds_approach_the_ode():
    market, horizon = curse_market(), 20.0
    ode = solve_fluid(market, horizon, times=np.arange(0.0, horizon, 1.0))
    coarse, fine = [], []
    for replication in range(4):
        for settings, sink in (((1000, 0.2), coarse), ((32000, 0.025), fine)):
            n_agents, dt = settings
            run = DataMarketModel(scenario(market, horizon=horizon, dt=dt, agents=n_agents),
                                  rng=20_000 + replication).run()
            sink.append(max(sup_distances(run, ode, columns=STATE).values()))
    # Every fine run beats every coarse run. Were the two settings equally good, complete
    # separation of 4 + 4 exchangeable runs would happen with probability 1 / C(8, 4) = 1/70.
    assert max(fine) < min(coarse), (fine, coarse)
