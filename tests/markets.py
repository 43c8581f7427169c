"""Small dynamic markets shared by the tests."""

from abm.scenario import Scenario, Simulation
from abm.theory.fluid import CreatorType, DynamicMarket
from abm.theory.supply import PointMass, PowerLaw


def curse_market(**changes) -> DynamicMarket:
    """The default curse-of-precision market (innovators beta = 0)."""
    params = dict(
        innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PowerLaw(0.5, 1.0), initial_stock=2.0),
        rank_and_file=CreatorType(mass=20.0, beta=0.9, outside_option=PowerLaw(0.05, 2.0), initial_stock=1.0),
        sigma0_sq=0.5, kappa=0.2, depreciation=0.02,
    )
    params.update(changes)
    return DynamicMarket(**params)


def priced_out_market(**changes) -> DynamicMarket:
    """Innovators whose entry price sqrt(2) exceeds anything a firm with v = 1 pays."""
    return curse_market(
        innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PointMass(1.0)), depreciation=0.0, **changes
    )


def scenario(market: DynamicMarket, **simulation) -> Scenario:
    """Wrap a market in a scenario with the given simulation settings."""
    return Scenario(name="test", description="test market", market=market, simulation=Simulation(**simulation))
