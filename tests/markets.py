"""Small dynamic markets shared by the tests."""

import dataclasses

from abm.scenario import Scenario, Simulation, default_scenario
from abm.theory.fluid import CreatorType, DynamicMarket
from abm.theory.supply import PointMass


def curse_market(**changes) -> DynamicMarket:
    """The default (curse-of-precision) market, innovators beta = 0, with some fields changed."""
    return dataclasses.replace(default_scenario().market, **changes)


def priced_out_market(**changes) -> DynamicMarket:
    """Innovators whose entry price sqrt(2) exceeds anything a firm with v = 1 pays."""
    return curse_market(
        innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PointMass(1.0)), depreciation=0.0, **changes
    )


def scenario(market: DynamicMarket, **simulation) -> Scenario:
    """Wrap a market in a scenario with the given simulation settings."""
    return Scenario(name="test", description="test market", market=market, simulation=Simulation(**simulation))
