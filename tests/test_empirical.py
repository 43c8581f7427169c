"""The myopic price against a finite population, checked by brute force."""

import numpy as np
import pytest

from abm.theory.empirical import EmpiricalSupply


def brute_force(entry, weight, kind, margins, value):
    """Evaluate the profit rate at every entry price, just below it, and on a fine grid."""
    candidates = np.concatenate([entry, np.nextafter(entry, 0), np.linspace(0, value * max(margins), 20001)])
    candidates = candidates[candidates >= 0]
    active = candidates[:, None] >= entry[None, :]
    per_unit = value * np.asarray(margins)[kind][None, :] - candidates[:, None]
    profits = candidates * np.sum(active * weight[None, :] * per_unit, axis=1)
    return profits.max()


@pytest.mark.parametrize("seed", range(8))
def test_best_price_beats_every_candidate(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    entry = np.round(rng.uniform(0, 1, n), int(rng.integers(1, 4)))  # rounding creates ties
    weight, kind = rng.uniform(0.1, 2, n), rng.integers(0, 2, n)
    margins = rng.uniform(0.05, 1, 2)
    supply = EmpiricalSupply(entry, weight, kind)
    price = supply.best_price(margins, 1.0)
    achieved = price * np.sum((price >= entry) * weight * (margins[kind] - price))
    assert achieved >= brute_force(entry, weight, kind, margins, 1.0) - 1e-12
    assert achieved >= 0


def test_supply_counts_creators_at_or_above_their_entry_price():
    supply = EmpiricalSupply(np.array([0.2, 0.1, 0.3]), np.array([1.0, 2.0, 4.0]), np.array([0, 1, 0]))
    np.testing.assert_allclose(supply.supply(0.2), [0.2 * 1.0, 0.2 * 2.0])
    np.testing.assert_allclose(supply.supply(0.05), [0.0, 0.0])
    np.testing.assert_allclose(supply.supply(0.3), [0.3 * 5.0, 0.3 * 2.0])
