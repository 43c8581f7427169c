"""The array path's shortcuts against the creators themselves: prefix sums, lazy state, the tree search.

The model settles rounds and moves stocks from per-type prefix sums and keeps each creator's
state implicit; these tests hold every shortcut to the per-creator arithmetic it replaces:
with loadings (and costs) drawn per creator as well as shared, under every regime.
"""

import numpy as np
import pandas as pd
import pytest

import abm.simulation.dynamic_market.model as model_module
from abm.regimes import REGIMES
from abm.simulation.dynamic_market import kernels
from abm.simulation.dynamic_market.model import STEPPING, DataMarketModel
from abm.theory.empirical import EmpiricalSupply
from abm.theory.heterogeneity import UniformValues, characteristic_from_value
from abm.theory.information import precision_fixed_point
from abm.theory.mechanism import settle_round
from tests.markets import curse_market, scenario

#: Loadings and costs drawn per creator (scenario files cannot say this yet).
SPREAD = {("beta", 0.0): UniformValues(0.0, 0.1), ("beta", 0.9): UniformValues(0.8, 1.0)}
COST_SPREAD = {("cost", 1.0): UniformValues(0.7, 1.3)}


@pytest.fixture(params=["loadings", "loadings_and_costs"])
def spread(request, monkeypatch):
    """Make ``Population`` draw each creator's loading (and cost) from a distribution."""
    table = SPREAD | (COST_SPREAD if request.param == "loadings_and_costs" else {})

    def characteristic(value, where):
        return table.get((where, value), characteristic_from_value(value, where))

    monkeypatch.setattr(model_module, "characteristic_from_value", characteristic)
    return request.param


def small(**simulation):
    return scenario(curse_market(), **(dict(horizon=3.0, dt=0.1, agents=80) | simulation))


def reference_settlement(model):
    """The round's settlement summed creator by creator (what the model did before prefix sums)."""
    population = model.population
    terms = {}
    if model.intermediary is not None:
        settings = model.scenario.regime
        terms = dict(tariff=True, operating_cost=settings.operating_cost, firm_outside=settings.firm_outside,
                     bargaining_power=settings.bargaining_power)
    if model.resale_prices is not None:  # a broker resells: the firm pays its resale price per unit
        terms = dict(firm_price=np.asarray(model.resale_prices)[population.kind])
    return settle_round(population.offered, population.effort, population.mass, population.cost,
                        np.where(population.active, population.outside_option, 0.0), population.kind, **terms)


@pytest.mark.parametrize("regime", list(REGIMES))
def test_prefix_sums_settle_and_accumulate_as_the_creators_do(regime):
    """Every round: the settlement, the data delivered and the stocks equal the per-creator sums."""
    model = DataMarketModel(small(regime=regime, agents=200), rng=2)
    for _ in range(15):
        model.step()
        population, row = model.population, model.latest
        reference = reference_settlement(model)
        scale = max(1.0, abs(reference.firm_transfer))
        assert row["firm_transfer"] == pytest.approx(reference.firm_transfer, rel=1e-12, abs=1e-15 * scale)
        np.testing.assert_allclose([row["surplus_innovators"], row["surplus_rank_and_file"]],
                                   reference.creator_surplus, rtol=1e-11, atol=1e-14 * scale)
        np.testing.assert_allclose(model.stocks, population.per_type(population.stock), rtol=1e-12)


@pytest.mark.parametrize("compiled", [False, True] if kernels.AVAILABLE else [False])
def test_loadings_per_creator_keep_the_paths_identical(spread, compiled):
    for regime in ("strict_ip", "collective_pool", "intermediary", "statutory_license"):
        models = [DataMarketModel(small(regime=regime), stepping=stepping, rng=4, compiled=compiled)
                  for stepping in STEPPING]
        assert all(model.population.heterogeneous for model in models)
        runs = [model.run() for model in models]
        pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
        for name in ("stock", "active", "effort", "offered"):
            np.testing.assert_array_equal(getattr(models[0].population, name), getattr(models[1].population, name))


@pytest.mark.parametrize("regime", ["strict_ip", "intermediary"])
def test_loadings_per_creator_are_exact(spread, regime):
    """The precision comes from every creator's own stock and loading, the myopic price is the
    exact maximiser against every creator's own marginal value, and settlements are the sums."""
    model = DataMarketModel(small(regime=regime, agents=150), rng=6)
    market, population = model.market, model.population
    for _ in range(12):
        stock, beta = population.stock, population.beta
        sums = stock.sum(), stock @ beta, stock @ beta**2
        assert model.precision == pytest.approx(precision_fixed_point(*sums, market.sigma0_sq, market.kappa),
                                                rel=1e-12)
        margins, lam, feedback = model.creator_margins, model.lam, model.feedback  # the round's, before it
        model.step()
        reference = reference_settlement(model)
        assert model.latest["firm_transfer"] == pytest.approx(reference.firm_transfer, rel=1e-12, abs=1e-15)
        if regime != "strict_ip":
            continue
        price = float(model.firm.prices[0])
        weight = population.mass / population.cost

        def profit(p):
            return p * np.sum(np.where(p >= population.entry_price, weight * (market.value * margins - p), 0.0))

        candidates = np.concatenate([population.entry_price, np.linspace(0.0, market.value * margins.max(), 4001)])
        assert profit(price) >= max(profit(p) for p in candidates) - 1e-13
        assert price == model.supply.best_price_for_loadings(lam, feedback, market.value, exhaustive=True)


def random_supply(seed: int, n: int, ties: bool, loadings: bool):
    rng = np.random.default_rng(seed)
    kind = np.repeat([0, 1], n // 2)
    options = np.concatenate([0.5 * rng.random(n // 2), 0.05 * np.sqrt(rng.random(n - n // 2))])
    if ties:
        options = np.round(options, 3)
    entry = np.sqrt(2.0 * options)
    weight = np.where(kind == 0, 1.0, 20.0) / (n // 2) * rng.uniform(0.5, 1.5, n)
    beta = np.where(kind == 0, 0.0, 0.9) + 0.1 * rng.random(n) if loadings else None
    return EmpiricalSupply(entry, weight, kind, beta=beta), rng


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_the_tree_search_finds_the_exhaustive_scans_price_bit_for_bit(seed, ties):
    supply, rng = random_supply(seed, 60_000, ties, loadings=False)
    loaded, _ = random_supply(seed, 60_000, ties, loadings=True)
    for _ in range(25):
        margins = rng.uniform(0.02, 1.0, 2)
        assert supply.best_price(margins, 1.0) == supply.best_price(margins, 1.0, exhaustive=True)
        lam, feedback = rng.uniform(0.0, 1.3), rng.uniform(1.0, 2.0)
        assert (loaded.best_price_for_loadings(lam, feedback, 1.0)
                == loaded.best_price_for_loadings(lam, feedback, 1.0, exhaustive=True))


def test_per_type_prices_give_prefix_sums_over_the_cheapest_creators():
    supply, rng = random_supply(0, 1000, ties=True, loadings=False)
    entry, weight = supply.thresholds_by_kind, supply._columns["weight"]
    for price in rng.uniform(0.0, 0.8, 20):
        counts = supply.active_counts(price)
        for k in range(2):
            assert counts[k] == np.count_nonzero(entry[k] <= price)
        np.testing.assert_allclose(supply.supply(price), [price * weight[k](counts[k]) for k in range(2)])


def assert_columns_close(actual: pd.DataFrame, expected: pd.DataFrame, rtol: float) -> None:
    """Every column within ``rtol`` of the other, relative to the column's largest magnitude (the
    intermediary's balance, zero up to rounding, relative to the money that flows through it)."""
    for column in expected.columns:
        scaled_by = "firm_transfer" if column == "intermediary_balance" else column
        scale = max(np.abs(expected[scaled_by].to_numpy()).max(), 1e-300)
        np.testing.assert_allclose(actual[column], expected[column], rtol=rtol, atol=rtol * scale, err_msg=column)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install abm-training-data[fast])")
@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("loadings", ["shared", "per_creator"])
def test_compiled_loops_agree_with_numpy(regime, loadings, monkeypatch):
    if loadings == "per_creator" and regime in ("private_broker", "creator_union"):
        pytest.skip("the broker and the union price per type against one supply curve per type: they refuse "
                    "loadings that differ within a type (docs/regimes.md)")
    if loadings == "per_creator":
        monkeypatch.setattr(model_module, "characteristic_from_value",
                            lambda value, where: SPREAD.get((where, value), characteristic_from_value(value, where)))
    models = [DataMarketModel(small(regime=regime, agents=300), rng=7, compiled=compiled) for compiled in (False, True)]
    runs = [model.run() for model in models]
    assert not models[0].compiled and models[1].compiled
    assert_columns_close(runs[1], runs[0], rtol=1e-12)
    np.testing.assert_allclose(models[1].population.stock, models[0].population.stock, rtol=1e-12)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install abm-training-data[fast])")
@pytest.mark.parametrize("ties", [False, True])
def test_compiled_scan_finds_numpys_price_bit_for_bit(ties):
    for loadings in (False, True):
        supply, rng = random_supply(3, 20_000, ties, loadings)
        scanned, _ = random_supply(3, 20_000, ties, loadings)
        scanned.scanner = kernels.best_piece
        for _ in range(20):
            if loadings:
                lam, feedback = rng.uniform(0.0, 1.3), rng.uniform(1.0, 2.0)
                assert (scanned.best_price_for_loadings(lam, feedback, 1.0)
                        == supply.best_price_for_loadings(lam, feedback, 1.0, exhaustive=True))
            else:
                margins = rng.uniform(0.02, 1.0, 2)
                assert scanned.best_price(margins, 1.0) == supply.best_price(margins, 1.0, exhaustive=True)
