"""Seeded statistical checks: the agent-based market converges to its fluid limit.

Two sources of error are separated. Against :func:`fluid_rounds` (same rounds, exact supply
curves) only the finite population matters; against the ODE the round length adds O(dt)
(checked in ``test_fluid.py``).

Expected rate in the population size N. Outside options drawn at random make the agents'
supply curve differ from N_k(p) by a Brownian-bridge error of order N^{-1/2}. The myopic
firm maximises profit against that empirical curve, and the maximiser of a smooth concave
function plus such noise moves by order N^{-1/3} (cube-root asymptotics of an argmax,
Kim & Pollard 1990), so the price converges at rate N^{-1/3}; the stocks integrate the
supply errors of many rounds, which partly average out, and the argmax part of their
error decorrelates as the price sweeps the transient: what is left is the N^{-1/2} of the
empirical supply curve (the derivation is in docs/validation.md). The measured exponents are
there too.
"""

import numpy as np
import pytest
from scipy import stats

from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import sup_distances
from abm.theory.fluid import solve_fluid
from analysis.validation import STATE, population_convergence
from tests.markets import curse_market, scenario


@pytest.mark.slow
def test_distance_to_the_fluid_limit_shrinks_with_the_population():
    measured = population_convergence(curse_market(), populations=(1000, 4000, 16000, 64000), replications=8)
    # Derived exponents (docs/validation.md), fixed before fitting: -1/2 for the state, -1/3 for
    # the price; each must lie in the fitted slope's 95% confidence interval (t quantile, 30 dof).
    half = stats.t.ppf(0.975, measured["dof"])
    assert measured["state_slope"] + half * measured["state_stderr"] < 0, "the state does not converge"
    assert abs(measured["state_slope"] - (-1 / 2)) <= half * measured["state_stderr"], measured
    assert abs(measured["price_slope"] - (-1 / 3)) <= half * measured["price_stderr"], measured


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
