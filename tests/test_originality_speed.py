"""Chosen originality's fast round: the supply curve filtered from the merge of every possible entry
price, and only the movers' characteristics rewritten, are bit for bit what they replace.

The reference for the curve is :meth:`EmpiricalSupply.from_sorted` on each (type, style) group's
entry prices, as the firm's curve was built before (a merge and a binary search per piece); for
the characteristics, rewriting every creator of the type from its style.
"""

import numpy as np
import pytest

from abm.scenario import resolve_scenario
from abm.simulation.dynamic_market import kernels
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.dynamic_market.originality import StyleUniverse
from abm.theory.empirical import EmpiricalSupply

COMPILED = [False, True] if kernels.AVAILABLE else [False]


def _model(agents: int, rounds: int = 0, seed: int = 3):
    scenario = resolve_scenario("chosen_originality").with_simulation(agents=agents)
    model = DataMarketModel(scenario, rng=seed)
    model.run(rounds)
    return model


def _reference_curve(model) -> EmpiricalSupply:
    """The firm's curve as built before: each group's current entry prices, merged and searched."""
    population, thresholds, weights = model.population, [], []
    for rule in model.behaviour.rules:
        for j in range(rule.betas.size):
            members = rule.members(j)
            thresholds.append(population.entry_price[members])
            weights.append(np.full(members.size, population.type_mass[rule.k] / rule.costs[j]))
    return EmpiricalSupply.from_sorted(thresholds, {"weight": weights})


def _assert_same_curve(curve, reference) -> None:
    assert curve.n_pieces == reference.n_pieces
    np.testing.assert_array_equal(curve._edges, reference._edges)
    np.testing.assert_array_equal(curve._kind_weights, reference._kind_weights)
    for mine, theirs in zip(curve.thresholds_by_kind, reference.thresholds_by_kind):
        np.testing.assert_array_equal(mine, theirs)
    # The myopic price for margins of both signs and sizes, and the supply at some prices.
    for margins in ([1.0, 1.0, 0.19], [0.3, 2.0, 0.5], [1.0, -0.2, 0.7]):
        for value in (0.5, 3.0):
            assert curve.best_price(margins, value) == reference.best_price(margins, value)
    for price in np.concatenate([reference._edges[:-1:97], [0.0, 10.0]]):
        assert curve.supply_pair(price) == reference.supply_pair(price)
        assert curve.active_counts(price) == reference.active_counts(price)


@pytest.mark.parametrize("compiled", COMPILED)
def test_curve_equals_the_merged_groups_with_ties(compiled):
    """Outside options on a grid of dyadic numbers, with repeats, and costs 1 and 4: entry prices
    tie within a group and across groups (``sqrt(2 * 4 * w) == sqrt(2 * 1 * 4w)``); random styles."""
    model = _model(2_000)
    rng = np.random.default_rng(11)
    population = model.population
    for start, stop in population.bounds:
        population.outside_option[start:stop] = np.sort(rng.integers(0, 200, stop - start)) / 64.0
    for rule in model.behaviour.rules:
        if rule.betas.size > 1:
            rule.costs = np.array([1.0, 4.0])
    for trial in range(3):
        for rule in model.behaviour.rules:
            rule.style = rng.integers(0, rule.betas.size, rule.size)
            rule.write_characteristics()
        reference = _reference_curve(model)
        assert reference.n_pieces < population.size  # the ties are there
        curve = StyleUniverse(model.behaviour.rules, population, compiled).supply(population.style)
        _assert_same_curve(curve, reference)


@pytest.mark.parametrize("compiled", COMPILED)
def test_curve_after_rounds_of_switching(compiled):
    """After rounds in which creators switched style, the curve equals the reference."""
    model = _model(3_000, rounds=6)
    shares = [row["share_rank_and_file_original"] for row in model.behaviour.history]
    assert len(set(shares)) > 1  # someone switched
    curve = StyleUniverse(model.behaviour.rules, model.population, compiled).supply(model.population.style)
    _assert_same_curve(curve, _reference_curve(model))


def test_movers_rewrite_equals_full_rewrite():
    """Only the movers' loading, cost, entry price and style are rewritten; the arrays equal a full
    rewrite from the styles, and the kept per-style counts equal a count of the styles."""
    model = _model(3_000, rounds=8)
    population = model.population
    kept = {name: getattr(population, name).copy() for name in ("beta", "cost", "entry_price", "style")}
    for rule in model.behaviour.rules:
        np.testing.assert_array_equal(rule.counts, np.bincount(rule.style, minlength=rule.betas.size))
        np.testing.assert_array_equal(rule.pending, rule.style)
        rule.write_characteristics()
    for name, values in kept.items():
        np.testing.assert_array_equal(getattr(population, name), values)


def _price_path(agents: int, rounds: int, seed: int):
    scenario = resolve_scenario("chosen_originality").with_simulation(agents=agents)
    model = DataMarketModel(scenario, rng=seed)
    prices = []
    for _ in range(rounds):
        model.step()
        prices.append(np.asarray(model.firm.prices, dtype=float).copy())
    return model, np.array(prices)


def test_prices_equal_rebuilding_from_the_groups(monkeypatch):
    """A run whose firm prices against the reference curve posts the same prices every round, bit for bit."""
    from abm.simulation.dynamic_market import originality

    fast, fast_prices = _price_path(2_000, 12, seed=5)
    models = []
    monkeypatch.setattr(originality.StyleUniverse, "supply", lambda universe, current: _reference_curve(models[0]))
    monkeypatch.setattr(DataMarketModel, "step", _recording_step(DataMarketModel.step, models))
    slow, slow_prices = _price_path(2_000, 12, seed=5)
    assert models and models[0] is slow
    np.testing.assert_array_equal(fast_prices, slow_prices)
    assert len({row["share_rank_and_file_original"] for row in fast.behaviour.history}) > 1  # styles switched
    assert fast.behaviour.history == slow.behaviour.history
    np.testing.assert_array_equal(fast.population.stock, slow.population.stock)


def _recording_step(step, models):
    def recorded(model, *args, **kwargs):
        if not models:
            models.append(model)
        return step(model, *args, **kwargs)
    return recorded


@pytest.mark.skipif(not kernels.AVAILABLE, reason="needs numba")
def test_compiled_round_equals_numpy_round():
    """The compiled decisions (entry, effort, revisions and per-style inflows in one pass) and the
    compiled curve give the numpy round's prices, shares, stocks and per-creator arrays, bit for bit."""
    scenario = resolve_scenario("chosen_originality").with_simulation(agents=2_000)
    runs = []
    for compiled in (False, True):
        model = DataMarketModel(scenario, rng=7, compiled=compiled)
        prices = []
        for _ in range(15):
            model.step()
            prices.append(np.asarray(model.firm.prices, dtype=float).copy())
        runs.append((model, np.array(prices)))
    (numpy_model, numpy_prices), (fast_model, fast_prices) = runs
    assert fast_model.behaviour.rules[1].compiled and not numpy_model.behaviour.rules[1].compiled
    np.testing.assert_array_equal(fast_prices, numpy_prices)
    assert fast_model.behaviour.history == numpy_model.behaviour.history
    assert len({row["share_rank_and_file_original"] for row in fast_model.behaviour.history}) > 1
    for name in ("stock", "effort", "active", "style", "entry_price"):
        np.testing.assert_array_equal(getattr(fast_model.population, name), getattr(numpy_model.population, name))


@pytest.mark.parametrize("n_groups", [1, 2, 3, 4])
def test_the_few_groups_pass_equals_the_generic_pass_bit_for_bit(n_groups):
    """``_merge_pieces_few`` (running sums in locals, at most four groups) against the generic
    ``_merge_pieces``, both pure Python here, on random merged prices with ties."""
    from abm.simulation.dynamic_market.originality import _merge_pieces, _merge_pieces_few

    rng = np.random.default_rng(n_groups)
    for size in (0, 1, 7, 200):
        creators = max(size // 2, 1)
        values = np.sort(rng.integers(0, 16, size) / 16.0)
        group = rng.integers(0, n_groups, size)
        creator = rng.integers(0, creators, size)
        style = rng.integers(0, 2, size)
        current = rng.integers(0, 2, creators)
        weight = rng.uniform(0.1, 3.0, n_groups)
        outputs = []
        for merge in (_merge_pieces, _merge_pieces_few):
            thresholds, held = np.zeros((n_groups, size + 1)), np.zeros(n_groups, dtype=np.int64)
            starts, rows = np.zeros(size + 1), np.zeros((n_groups, size + 1))
            pieces = merge(values, group, creator, style, current, weight, thresholds, held, starts, rows)
            outputs.append((pieces, thresholds, held, starts, rows))
        (p0, *a0), (p1, *a1) = outputs
        assert p0 == p1
        for x, y in zip(a0, a1):
            np.testing.assert_array_equal(x, y)
