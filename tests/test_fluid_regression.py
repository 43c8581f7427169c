"""The fluid limit's regression on smooth scenarios, its work bound, and the round-length check."""

import dataclasses
import warnings

import numpy as np
import pytest

import abm.theory.fluid as fluid
from abm.regimes import RegimeSettings, get_regime
from abm.scenario import default_scenario, resolve_scenario
from abm.theory.fluid import (
    MAX_EVALUATIONS,
    CreatorType,
    DynamicMarket,
    FluidSolverError,
    RoundLengthWarning,
    fluid_rounds,
    round_length_check,
    solve_fluid,
)
from abm.theory.supply import PowerLaw

#: solve_fluid's output computed with the LSODA solver as it was before discontinuous supply
#: was handled (``times = linspace(0, T, 11)``, every other one kept), on the markets of
#: :func:`_case` (the shipped scenarios' parameters at the time, frozen here). The smooth path
#: must reproduce it; it did so bit for bit when this file was written.
SAVED = {
    "curse_of_precision": {
        "time": [0.0, 40.0, 80.0, 120.0, 160.0, 200.0],
        "precision": [
            2.55002359475137, 1.832415639811774, 1.4368284032040994, 1.263176268717508, 1.186067633400304,
            1.1516132046023948],
        "stock_innovators": [
            2.0, 0.9534104440812756, 0.4774284290987644, 0.2636946253528321, 0.1676892729659469,
            0.1245577549324491],
        "stock_rank_and_file": [
            1.0000000000000002, 2.2946391495690337, 2.4718704705967958, 2.5583032845611418, 2.5986826912042877,
            2.6171438444222073],
        "price": [
            0.24299121232606716, 0.12108332105171367, 0.12128674563021291, 0.12134334432297664,
            0.12135511921472064, 0.1213575195684935],
    },
    "elasticity_contrast": {
        "time": [0.0, 40.0, 80.0, 120.0, 160.0, 200.0],
        "precision": [
            2.55002359475137, 1.8344889314238713, 1.4348632211517174, 1.25950957742265, 1.1816741993237025,
            1.1469014041329946],
        "stock_innovators": [
            2.0, 0.9398065801042323, 0.45722224012273494, 0.24050312172825689, 0.14315373273525356,
            0.0994177807649517],
        "stock_rank_and_file": [
            1.0, 2.406577142081226, 2.5945550808550752, 2.6859517992136066, 2.7286834427820668, 2.748227946982236],
        "price": [
            0.2348032505432089, 0.10815229916081667, 0.10834416307796366, 0.10840874876512932,
            0.10842230416325327, 0.10842507102643542],
    },
    "healthy_market": {
        "time": [0.0, 40.0, 80.0, 120.0, 160.0, 200.0],
        "precision": [
            2.711743772241993, 6.115960954582459, 7.040452702129227, 7.375252075831208, 7.504883816484356,
            7.557116674628978],
        "stock_innovators": [
            2.0, 4.844374066987514, 5.6937927585765715, 6.008903143537288, 6.132813001220564, 6.18333673021826],
        "stock_rank_and_file": [
            1.0, 2.6217891153454977, 2.96227865745515, 3.0592503036025045, 3.0880843095001933, 3.096755470383091],
        "price": [
            0.5841542210819355, 0.5081734578088837, 0.5015203197553694, 0.4998812114905393, 0.49941282394614517,
            0.4992736030798467],
    },
    "learning_firm": {
        "time": [0.0, 40.0, 80.0, 120.0, 160.0, 200.0],
        "precision": [
            2.55002359475137, 1.832415639811774, 1.4368284032040994, 1.263176268717508, 1.186067633400304,
            1.1516132046023948],
        "stock_innovators": [
            2.0, 0.9534104440812756, 0.4774284290987644, 0.2636946253528321, 0.1676892729659469,
            0.1245577549324491],
        "stock_rank_and_file": [
            1.0000000000000002, 2.2946391495690337, 2.4718704705967958, 2.5583032845611418, 2.5986826912042877,
            2.6171438444222073],
        "price": [
            0.24299121232606716, 0.12108332105171367, 0.12128674563021291, 0.12134334432297664,
            0.12135511921472064, 0.1213575195684935],
    },
    "default@intermediary": {
        "time": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
        "precision": [
            2.55002359475137, 10.070862294452175, 16.869566948752013, 22.652659183507552, 27.47326212629932,
            31.46284807889993],
        "stock_innovators": [
            2.0, 9.70240199957616, 16.617124076356376, 22.45575251772167, 27.308766505948725, 31.319800286881655],
        "stock_rank_and_file": [
            1.0000000000000002, 1.4759778505789425, 1.2144434810805078, 0.9961970701447452, 0.8173134826470595,
            0.6717318595159462],
        "price": [
            0.40700390972937556, 0.9768312839018669, 0.9895022731589093, 0.9935864562695158, 0.9954290968455884,
            0.9963335489385348],
    },
    "default@collective_pool": {
        "time": [0.0, 10.0, 20.0, 30.0, 40.0, 50.0],
        "precision": [
            2.55002359475137, 3.1800678124660116, 3.6540611106462153, 4.052929182925214, 4.3918086885550744,
            4.679617857933013],
        "stock_innovators": [
            2.0, 2.6043406327025855, 3.108392142720139, 3.536050817881859, 3.8988474563550763, 4.2058555470375625],
        "stock_rank_and_file": [
            0.9999999999999999, 1.2243456464637135, 1.1966660612735958, 1.1453223670312844, 1.0963901521640083,
            1.0552252130518383],
        "price": [
            0.2987209391647626, 0.4034551631904769, 0.42021534854403164, 0.42633841802198325, 0.4291863557348189,
            0.4307865997416591],
    },
}


def _market(rank_and_file_mass=20.0, rank_and_file=PowerLaw(0.05, 2.0), kappa=0.2) -> DynamicMarket:
    return DynamicMarket(
        innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PowerLaw(0.5, 1.0), initial_stock=2.0),
        rank_and_file=CreatorType(mass=rank_and_file_mass, beta=0.9, outside_option=rank_and_file, initial_stock=1.0),
        value=1.0, sigma0_sq=0.5, kappa=kappa, depreciation=0.02)


def _case(key):
    """Market, regime and horizon of a saved case (``learning_firm``'s market is the curse's)."""
    markets = {"curse_of_precision": _market(), "learning_firm": _market(),
               "elasticity_contrast": _market(12.65, PowerLaw(0.05, 1.5)),
               "healthy_market": _market(2.0, PowerLaw(0.5, 2.0), kappa=0.0)}
    if "@" in key:
        return markets["curse_of_precision"], key.split("@")[1], 50.0
    return markets[key], "strict_ip", 200.0


@pytest.mark.parametrize("key", list(SAVED))
def test_smooth_scenarios_keep_their_fluid_limit(key):
    market, regime, horizon = _case(key)
    saved = SAVED[key]
    frame = solve_fluid(market, horizon, times=saved["time"], regime=get_regime(regime), settings=RegimeSettings())
    for column in ("precision", "stock_innovators", "stock_rank_and_file", "price"):
        np.testing.assert_allclose(frame[column], saved[column], rtol=1e-8, atol=1e-10, err_msg=column)
    assert frame.attrs["switches"] == 0 and frame.attrs["evaluations"] < MAX_EVALUATIONS


def test_a_tiny_evaluation_bound_raises_and_says_why():
    with pytest.raises(FluidSolverError, match=r"max_evaluations=10\b.*No supply discontinuity"):
        solve_fluid(default_scenario().market, 200.0, max_evaluations=10)
    threshold = resolve_scenario("threshold_entry").market
    with pytest.raises(FluidSolverError, match=r"switched \d+ times.*discontinuous at price 0\.244949"):
        solve_fluid(threshold, 100.0, max_evaluations=150)
    assert issubclass(FluidSolverError, RuntimeError)


def test_a_zero_time_bound_raises_at_the_first_evaluation():
    with pytest.raises(FluidSolverError, match="max_seconds=0"):
        solve_fluid(default_scenario().market, 10.0, max_seconds=0.0)


@pytest.mark.parametrize("scenario,patched", [("curse_of_precision", "marginal_values"),
                                              ("threshold_entry", "price_branches")])
def test_an_interrupt_during_solving_propagates(monkeypatch, scenario, patched):
    """Nothing between the integrator and the caller swallows KeyboardInterrupt (Ctrl-C, the CLI's SIGTERM)."""
    original, calls = getattr(fluid, patched), []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 40:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(fluid, patched, interrupting)
    with pytest.raises(KeyboardInterrupt):
        solve_fluid(resolve_scenario(scenario).market, 50.0)
    assert len(calls) == 40


def stiff_market():
    """The default market with 1,000 times the rank-and-file mass."""
    market = default_scenario().market
    return dataclasses.replace(market, rank_and_file=dataclasses.replace(market.rank_and_file, mass=20_000.0))


def test_a_stiff_market_warns_that_rounds_are_too_long():
    market = stiff_market()
    with pytest.warns(RoundLengthWarning, match=r"dt = 0\.1 are too long.*dt <= 0\.000156"):
        rounds = fluid_rounds(market, 0.1, 5)
    # Independent reference for the first round: X_C' = decay X_C + growth M_C G(p^2/2) p.
    price = rounds["price"].iloc[0]
    decay, growth = np.exp(-0.002), -np.expm1(-0.002) / 0.02
    share = min(1.0, (price**2 / 2 / 0.05) ** 2)
    after = decay * 1.0 + growth * 20_000.0 * share * price
    assert rounds["stock_rank_and_file"].iloc[1] == pytest.approx(after, rel=1e-12)
    change, suggested = round_length_check(market, 0.1, market.initial_stocks, [price, price])
    assert change >= after - 1.0 and suggested == pytest.approx(0.1 * fluid.ROUND_CHANGE_TARGET / change)
    # The suggestion is linear in dt: the same first round at the suggested length changes by about the target.
    shorter, _ = round_length_check(market, suggested, market.initial_stocks, [price, price])
    assert shorter == pytest.approx(fluid.ROUND_CHANGE_TARGET, rel=0.05)


@pytest.mark.parametrize("name", ["curse_of_precision", "elasticity_contrast", "healthy_market", "learning_firm",
                                  "threshold_entry"])
def test_shipped_scenarios_use_rounds_short_enough(name):
    scenario = resolve_scenario(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundLengthWarning)
        rounds = fluid_rounds(scenario.market, scenario.simulation.dt, 200)
    change, suggested = round_length_check(scenario.market, scenario.simulation.dt,
                                           rounds[["stock_innovators", "stock_rank_and_file"]],
                                           rounds[["price_innovators", "price_rank_and_file"]])
    assert change <= fluid.ROUND_CHANGE_TARGET and suggested == scenario.simulation.dt


def test_round_length_check_takes_the_worst_round():
    market = default_scenario().market
    first = round_length_check(market, 0.05, [2.0, 1.0], [0.2, 0.2])
    second = round_length_check(market, 0.05, [0.5, 3.0], [0.1, 0.1])
    both = round_length_check(market, 0.05, [[2.0, 1.0], [0.5, 3.0]], [[0.2, 0.2], [0.1, 0.1]])
    assert both[0] == max(first[0], second[0]) > 0
    with pytest.raises(ValueError, match="dt must be > 0"):
        round_length_check(market, 0.0, [2.0, 1.0], [0.2, 0.2])
