r"""A private data broker and a creator union in the information market: one round's prices.

Both institutions stand between one type of creators (supply ``E(t) = N(t) t / c`` of effort
at unit price ``t``, :class:`~abm.theory.fluid.CreatorType`) and the AI firm, whose value of
a unit of that type's data in the round is ``mu = v m_k`` (the round's value is linear in
its flow, so the firm buys every unit offered at a price ``<= mu`` and none above it).
``docs/regimes.md`` ("Private data broker", "Creator union") gives the economics.

**Broker** (three layers, as in the procurement paper of this project, Section 3: the
contract with the platform is signed before supply is realised). First the firm and the
broker agree a per-unit resale price ``r`` by Nash bargaining with the broker's weight
``w``; then the broker posts its buying price ``t*(r) = argmax_t E(t) (r - t)`` (its own
monopsony problem, :func:`monopsony_price`); then creators enter and supply. The resale
price maximises ``[E(t*) (r - t*)]^w [E(t*) (mu - r)]^(1 - w)`` (:func:`broker_terms`).
Two margins stack: the firm's ``mu - r`` and the broker's ``r - t``.

**Union.** The union posts its members' minimum price ``t``; members cannot undercut, entry
is decided against ``t``, and the firm buys from every entrant when ``t <= mu``. The price
is the Nash bargain ``max_t S(t)^alpha [E(t) (mu - t)]^(1 - alpha)`` between the members'
surplus over their outside options ``S(t) = M int_0^{t^2/2c} G`` and the firm's profit on
the type (:func:`union_price`): ``alpha = 1`` gives ``t = mu``, ``alpha = 0`` the firm's
own per-type monopsony price.

**Closed forms.** With isoelastic supply (``E ~ t^eps``, power-law outside options below
their largest value, ``eps = 2 a + 1``) every problem above is solved by hand
(:func:`isoelastic_monopsony_share`, :func:`isoelastic_union_price`,
:func:`isoelastic_broker_terms`): the union's price and the broker's resale price are both
``(weight + eps) / (1 + eps) mu``, and the broker pays creators ``eps / (1 + eps)`` of its
resale price. Where the closed form applies (the whole bargaining range lies on the
isoelastic piece) the functions use it; otherwise they search numerically.

**Static market** (market-design paper, Section 3). Creator ``i`` supplies ``e = t / c``
(elasticity 1) and is small, so it takes the marginal value ``v (1 - lambda beta_i)^2`` as
given; the per-unit bargains above then pay each creator a fixed share of its marginal
value and the equilibrium is a fixed point in ``lambda`` alone (:func:`static_equilibrium`).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import optimize

from abm.theory._validation import require_nonnegative, require_unit_interval
from abm.theory.information import marginal_precision_weight
from abm.theory.static import InformationMarket, Outcome, outcome_at
from abm.theory.supply import PowerLaw

__all__ = [
    "GRID_POINTS",
    "monopsony_price",
    "union_price",
    "broker_terms",
    "isoelastic_elasticity",
    "isoelastic_monopsony_share",
    "isoelastic_union_price",
    "isoelastic_broker_terms",
    "static_union_share",
    "static_broker_shares",
    "static_equilibrium",
]

#: Points of the grid every numerical search starts from (the supply's kinks are added).
GRID_POINTS = 257


# --- closed forms under isoelastic supply ---------------------------------------------------


def isoelastic_elasticity(creator) -> float | None:
    """``eps = 2 a + 1`` if the type's effort supply is isoelastic (power-law outside options,
    exponent ``a``) below its saturation price ``sqrt(2 c scale)``, else ``None``."""
    options = creator.outside_option
    if not isinstance(options, PowerLaw) or not creator.is_homogeneous:
        return None
    return 2.0 * options.exponent + 1.0


def _saturation_price(creator) -> float:
    """Price above which every creator of a power-law type is active: ``sqrt(2 c scale)``."""
    return float(np.sqrt(2.0 * creator.cost * creator.outside_option.scale))


def isoelastic_monopsony_share(elasticity: float) -> float:
    r"""``eps / (1 + eps)``: the markdown of a monopsonist facing supply ``E ~ t^eps``.

    ``max_t t^eps (r - t)`` has first-order condition ``eps (r - t) = t``.
    """
    return elasticity / (1.0 + elasticity)


def isoelastic_union_price(elasticity: float, marginal_value: float, weight: float) -> float:
    r"""The union's price under isoelastic supply: ``(alpha + eps) / (1 + eps) mu``.

    With ``S ~ t^(eps+1)`` and the firm's profit ``~ t^eps (mu - t)``, the first-order
    condition of ``alpha log S + (1 - alpha) log[E (mu - t)]`` is
    ``(alpha + eps) / t = (1 - alpha) / (mu - t)``.
    """
    return (weight + elasticity) / (1.0 + elasticity) * marginal_value


def isoelastic_broker_terms(elasticity: float, marginal_value: float, weight: float) -> tuple[float, float]:
    r"""``(r, t)`` under isoelastic supply: ``r = (w + eps) / (1 + eps) mu``, ``t = eps / (1 + eps) r``.

    With ``t*(r) = eps r / (1 + eps)``, the broker's profit is ``~ r^(eps+1)`` and the firm's
    ``~ r^eps (mu - r)``: the same first-order condition as the union's, in ``r``.
    """
    resale = isoelastic_union_price(elasticity, marginal_value, weight)
    return resale, isoelastic_monopsony_share(elasticity) * resale


# --- numerical search ------------------------------------------------------------------------


def _price_grid(creator, low: float, high: float) -> np.ndarray:
    """:data:`GRID_POINTS` prices on ``[low, high]`` plus every kink of the type's supply inside
    and the float just below it."""
    kinks = np.asarray([k for k in creator.kink_prices() if low < k < high], dtype=float)
    return np.unique(np.concatenate([np.linspace(low, high, GRID_POINTS), kinks, np.nextafter(kinks, low)]))


def _maximise(objective, grid: np.ndarray) -> float:
    """The maximiser of ``objective`` (vectorised) over the span of ``grid``: its best grid point,
    refined by bounded Brent between that point's neighbours (``xatol = 1e-12 max(high, 1)``,
    at most 500 iterations). ``objective`` may evaluate a whole grid approximately (the broker's
    nested problem does) but must evaluate one point exactly: the two candidates are compared
    at single points."""
    high = float(grid[-1])
    best = int(np.argmax(objective(grid)))

    def exact(x: float) -> float:
        return float(objective(np.array([x]))[0])

    refined = optimize.minimize_scalar(lambda x: -exact(x),
                                       bounds=(grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]),
                                       method="bounded", options={"xatol": 1e-12 * max(high, 1.0), "maxiter": 500})
    return float(refined.x) if -refined.fun > exact(float(grid[best])) else float(grid[best])


def _monopsony_profit(creator, resale, price):
    return creator.inflow(price) * (resale - price)


@functools.lru_cache(maxsize=4096)
def monopsony_price(creator, resale: float) -> float:
    r"""The buying price ``t*(r) = argmax_t E(t) (r - t)`` of a buyer who resells (or values)
    a unit of the type's data at ``r``; 0 when no price earns a positive margin.

    Closed form ``eps r / (1 + eps)`` when it lies on the isoelastic piece of supply
    (:func:`isoelastic_monopsony_share`), else a search over ``[0, r]``.
    """
    resale = require_nonnegative(resale, "resale price")
    if resale == 0.0:
        return 0.0
    elasticity = isoelastic_elasticity(creator)
    if elasticity is not None and isoelastic_monopsony_share(elasticity) * resale <= _saturation_price(creator):
        return isoelastic_monopsony_share(elasticity) * resale
    price = _maximise(lambda t: _monopsony_profit(creator, resale, t), _price_grid(creator, 0.0, resale))
    return price if _monopsony_profit(creator, resale, price) > 0.0 else 0.0


@functools.lru_cache(maxsize=4096)
def union_price(creator, marginal_value: float, weight: float) -> float:
    r"""The union's minimum price for its members: ``argmax_t S(t)^alpha [E(t) (mu - t)]^(1 - alpha)``
    on ``[0, mu]`` (``mu = v m_k``, ``alpha`` the union's weight).

    Closed form (:func:`isoelastic_union_price`) when ``[0, mu]`` lies on the isoelastic
    piece of supply; else a search. Returns 0 when ``mu <= 0`` (the firm buys nothing).
    """
    weight = require_unit_interval(weight, "union weight")
    if marginal_value <= 0.0:
        return 0.0
    elasticity = isoelastic_elasticity(creator)
    if elasticity is not None and marginal_value <= _saturation_price(creator):
        return isoelastic_union_price(elasticity, marginal_value, weight)

    def nash(price):
        profit = np.maximum(_monopsony_profit(creator, marginal_value, price), 0.0)
        return creator.surplus(price) ** weight * profit ** (1.0 - weight)

    return _maximise(nash, _price_grid(creator, 0.0, marginal_value))


@functools.lru_cache(maxsize=4096)
def broker_terms(creator, marginal_value: float, weight: float) -> tuple[float, float]:
    r"""``(r, t)``: the resale price agreed by Nash bargaining (broker's weight ``w``) and the
    broker's buying price ``t = t*(r)`` (:func:`monopsony_price`).

    ``r`` maximises ``[E(t*) (r - t*)]^w [E(t*) (mu - r)]^(1 - w)`` on ``[0, mu]``. Closed
    form (:func:`isoelastic_broker_terms`) when ``t*(mu)`` lies on the isoelastic piece of
    supply; else a search over ``r`` with the broker's problem solved at every ``r``.
    """
    weight = require_unit_interval(weight, "broker weight")
    if marginal_value <= 0.0:
        return 0.0, 0.0
    elasticity = isoelastic_elasticity(creator)
    if (elasticity is not None
            and isoelastic_monopsony_share(elasticity) * marginal_value <= _saturation_price(creator)):
        return isoelastic_broker_terms(elasticity, marginal_value, weight)

    grid = _price_grid(creator, 0.0, marginal_value)
    supplied = creator.inflow(grid)

    def nash(resales):
        resales = np.atleast_1d(resales)
        if resales.size == 1:  # a refinement step: the broker's own problem solved exactly
            prices = np.array([monopsony_price(creator, float(resales[0]))])
        else:  # the grid: the broker's best price on the same grid, for every resale price at once
            prices = grid[np.argmax(supplied * (resales[:, None] - grid), axis=1)]
        volume = creator.inflow(prices)
        broker, firm = volume * (resales - prices), volume * (marginal_value - resales)
        return np.maximum(broker, 0.0) ** weight * np.maximum(firm, 0.0) ** (1.0 - weight)

    resale = _maximise(nash, _price_grid(creator, 0.0, marginal_value))
    return resale, monopsony_price(creator, resale)


# --- the static market (market-design paper, Section 3) --------------------------------------


def static_union_share(weight: float) -> float:
    r"""Share of its marginal value ``v (1 - lambda beta_i)^2`` a union member is paid in the
    static market: ``(1 + alpha) / 2`` (:func:`isoelastic_union_price` with ``eps = 1``)."""
    return isoelastic_union_price(1.0, 1.0, require_unit_interval(weight, "union weight"))


def static_broker_shares(weight: float) -> tuple[float, float]:
    r"""Shares of the marginal value the firm pays the broker and the broker pays the creator in
    the static market: ``((1 + w) / 2, (1 + w) / 4)`` (:func:`isoelastic_broker_terms`, ``eps = 1``)."""
    return isoelastic_broker_terms(1.0, 1.0, require_unit_interval(weight, "broker weight"))


def _lambda_for_shares(market: InformationMarket, shares: np.ndarray) -> float:
    r"""Root of ``h(lam) = lam + sum k_i beta_i (lam beta_i - 1)^3``, ``k_i = sigma2 s_i v / c``.

    The efforts ``e_i = s_i v (1 - lam beta_i)^2 / c`` are consistent with
    ``lam = sigma2 S1 / (1 + sigma2 S2)`` exactly there (Lemma 10 with per-creator shares);
    ``h`` increases, ``h(0) <= 0 <= h(sum k_i beta_i)``, so the root is unique (Brent).
    """
    weights = market.sigma2 * shares * market.value / market.cost * market.beta
    upper = float(weights.sum())
    if upper == 0.0:
        return 0.0

    def h(lam: float) -> float:
        gap = lam * market.beta - 1.0
        return lam + float(np.dot(weights, gap * gap * gap))

    if h(upper) <= 0.0:
        return upper
    return float(optimize.brentq(h, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def static_equilibrium(market: InformationMarket, shares) -> Outcome:
    r"""The static market when creator ``i`` is paid ``t_i = s_i v (1 - lambda beta_i)^2`` per unit.

    Creators supply ``e_i = t_i / c``; ``lambda`` is the 1-D fixed point of
    :func:`_lambda_for_shares`. Shares of 1/2 are the Stackelberg equilibrium, 1 the social
    optimum (Lemma 10). The returned :class:`~abm.theory.static.Outcome` prices effort at ``t``.
    """
    shares = np.broadcast_to(np.asarray(shares, dtype=float), market.beta.shape)
    lam = _lambda_for_shares(market, shares)
    price = shares * market.value * marginal_precision_weight(lam, market.beta)
    return outcome_at(market, price / market.cost, price)
