"""The validation report's machinery: kinds, independence of the checks, and that they can fail."""

import numpy as np
import pytest

import analysis.validation as validation
from analysis.validation import EMERGENT, IDENTITY, THEOREM, Check, Departure, _check, write_report


def test_identities_are_shown_but_never_counted(tmp_path):
    checks = [_check("a theorem", "t", "o", 0.0, 1.0, "s"),
              _check("an identity", "t", "o", 0.0, 1.0, "s", kind=IDENTITY),
              _check("a failing comparison", "t", "o", 2.0, 1.0, "s", kind=EMERGENT)]
    assert [c.counted for c in checks] == [True, False, True]
    departure = Departure("finite population", "price", "fluid limit", 1.0, 1.1, 0.1, 0.05, 0.15, 10,
                          "agents above the fluid limit")
    text = write_report(checks, tmp_path, seed=1, quick=True, departures=[departure]).read_text()
    assert "1 of 2 tests pass" in text
    tests, identities = text.split("## Identities")
    assert "an identity" not in tests and "an identity" in identities
    assert "## Departures" in identities and "[+0.050, +0.150]" in identities
    assert (tmp_path / "departures.csv").exists()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        _check("x", "t", "o", 0.0, 1.0, "s", kind="hunch")
    assert Check("x", "t", "o", 0.0, 1.0, "s", True).kind == THEOREM  # the default, for other modules' checks


def test_golden_section_finds_each_maximiser():
    peaks = np.array([0.3, 1.7, 4.2])
    found = validation._golden_max(lambda e: -(e - peaks) ** 2, np.zeros(3), np.full(3, 5.0))
    assert np.allclose(found, peaks, atol=1e-9)


def test_quadrature_shares_agree_with_the_closed_form():
    from abm.theory.mechanism import aumann_shapley_weights
    from abm.theory.static import InformationMarket

    market = InformationMarket([0.0, 0.4, 0.9, 1.3], cost=1.2, sigma2=2.0)
    effort = validation._direct_optimum(market, 0.5)
    assert np.allclose(validation._quadrature_shares(market, effort), aumann_shapley_weights(market, effort),
                       atol=1e-7)


def test_barrier_bound_holds_and_is_tight_for_large_stocks():
    """The convexity bound the Prop. 6 check uses: 0 < P_bar - P(0, X) <= 1/(X (1/P_bar^2 + kappa beta^2))."""
    import dataclasses

    from abm.scenario import default_scenario
    from abm.theory.fluid import precision, precision_barrier

    market = dataclasses.replace(default_scenario().market, kappa=0.3)
    beta = market.rank_and_file.beta
    barrier = precision_barrier(market.sigma0_sq, market.kappa, beta)
    for stock in (0.5, 3.0, 50.0, 5e4):
        gap = barrier - precision(market, np.array([0.0, stock]))
        bound = 1 / (stock * (1 / barrier**2 + market.kappa * beta**2))
        assert 0 < gap <= bound * (1 + 1e-12)
    assert gap / bound > 0.999


@pytest.mark.slow
def test_static_tariff_checks_catch_wrong_shares(monkeypatch):
    """Perturb the code's Aumann-Shapley shares (still summing to 1): the base-payment check fails."""
    import abm.theory.mechanism as mechanism

    original = mechanism.aumann_shapley_weights

    def skewed(market, effort):
        weights = original(market, effort)
        return 0.9 * weights + 0.1 / len(weights)

    monkeypatch.setattr(mechanism, "aumann_shapley_weights", skewed)
    monkeypatch.setattr(validation, "_dynamic_intermediary_checks", lambda quick: [])
    checks = {c.name: c for c in validation._mechanism_checks(np.random.default_rng(0), quick=True)}
    assert not checks["two-part tariff base payments (Prop. 9)"].passed
    assert checks["two-part tariff balance field"].passed  # the identity cannot see it


@pytest.mark.slow
def test_mechanism_checks_pass_and_are_classified():
    checks = validation._mechanism_checks(np.random.default_rng(1), quick=True)
    assert all(c.passed for c in checks), [(c.name, c.distance, c.tolerance) for c in checks if not c.passed]
    assert {c.kind for c in checks} == {THEOREM, IDENTITY}


@pytest.mark.slow
def test_barrier_check_passes():
    check = validation._barrier_check(quick=True)
    assert check.passed and check.kind == EMERGENT, check
