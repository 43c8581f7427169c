"""The isoelastic outside-option distribution: supply parameterised by elasticity and level."""

import numpy as np
import pytest

from abm.theory.fluid import CreatorType
from abm.theory.supply import DISTRIBUTIONS, IsoElastic, PowerLaw, outside_options_from_dict


def test_level_holds_at_the_reference_price_and_elasticity_is_constant():
    creator = CreatorType(mass=20.0, beta=0.9, outside_option=IsoElastic(3.0, 0.02, 0.12))
    assert creator.active_mass(0.12) == pytest.approx(20.0 * 0.02, rel=1e-12)
    prices = np.array([0.05, 0.08, 0.12, 0.2])
    slopes = np.diff(np.log(creator.active_mass(prices))) / np.diff(np.log(prices))
    assert slopes == pytest.approx(3.0, rel=1e-12)


def test_it_is_the_power_law_it_maps_to():
    iso = IsoElastic(4.0, 0.020736, 0.12)
    power = iso.as_power_law()
    assert power.exponent == 2.0 and power.scale == pytest.approx(0.05, rel=1e-12)  # the default rank-and-file
    payoffs = np.linspace(0.0, 0.2, 41)
    assert np.allclose(iso.cdf(payoffs), PowerLaw(0.05, 2.0).cdf(payoffs), rtol=1e-12, atol=0)
    assert np.allclose(iso.integrated_cdf(payoffs), power.integrated_cdf(payoffs), rtol=1e-12, atol=0)
    assert iso.kinks() == power.kinks()


def test_changing_elasticity_at_fixed_level_rotates_supply_about_the_reference_price():
    low, high = IsoElastic(2.5, 0.02, 0.12), IsoElastic(8.0, 0.02, 0.12)
    u = lambda p: p * p / 2  # noqa: E731
    assert low.cdf(u(0.12)) == pytest.approx(high.cdf(u(0.12)), rel=1e-12)
    assert high.cdf(u(0.1)) < low.cdf(u(0.1)) and high.cdf(u(0.14)) > low.cdf(u(0.14))


def test_scenario_form_round_trips_and_is_registered():
    iso = IsoElastic(3.0, 0.5, 0.2)
    assert DISTRIBUTIONS["isoelastic"] is IsoElastic
    assert outside_options_from_dict(iso.to_dict()) == iso


@pytest.mark.parametrize("spec,message", [
    ({"elasticity": 0.0, "level": 0.1, "reference_price": 0.1}, "elasticity"),
    ({"elasticity": 2.0, "level": 1.5, "reference_price": 0.1}, "level"),
    ({"elasticity": 2.0, "level": 0.1, "reference_price": -1.0}, "reference_price"),
])
def test_bad_parameters_name_the_key(spec, message):
    with pytest.raises(ValueError, match=message):
        outside_options_from_dict({"distribution": "isoelastic", **spec})
