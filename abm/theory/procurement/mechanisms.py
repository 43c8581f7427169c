r"""The six mechanisms M1-M6 of the procurement paper: one interface, one registry.

Every mechanism allocates by the same program with its own weight vector and pays by its
own rule; :data:`MECHANISMS` maps each name to a :class:`Mechanism` holding both, who buys
(the platform, a creator union or a data broker) and a description. M3 (a revenue-maximising
platform facing a union) has no closed form: its entry carries only the bounds of the
paper's Thm 2.4 / Cor. 3.1, ``Rev5 <= Rev3 <= Rev1`` and ``SW3 <= SW2``.

>>> from abm.theory.procurement import MECHANISMS
>>> list(MECHANISMS)
['M1', 'M2', 'M3', 'M4', 'M5', 'M6']
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from abm.theory.procurement.allocation import social_cost_potential
from abm.theory.procurement.market import ProcurementMarket
from abm.theory.procurement.payments import PAYMENT_RTOL, _identity, allocation_of, myerson_payments
from abm.theory.procurement.quadrature import gauss_legendre

__all__ = ["Mechanism", "MECHANISMS", "ROUND_MECHANISMS", "COMPARISON_MECHANISMS", "PaymentOptions", "MechanismOutcome",
           "anchored_allocation", "union_payment", "proportional_shares", "mean_and_error", "get_mechanism",
           "mechanism_round", "evaluate_mechanisms", "best_misreport", "expectation"]

BUYERS = ("platform", "union", "broker")


@dataclass(frozen=True)
class PaymentOptions:
    """How Myerson integrals are computed (see :func:`~abm.theory.procurement.myerson_payments`).

    Parameters
    ----------
    method : {"quadrature", "randomized"}
    rng : seed or Generator, optional
        For ``"randomized"``.
    trials : int
        Draws per integral for ``"randomized"``, ``>= 1``.
    rtol : float
        Relative tolerance of the adaptive quadrature, ``> 0``.
    """

    method: str = "quadrature"
    rng: object = None
    trials: int = 100
    rtol: float = PAYMENT_RTOL

    def __post_init__(self) -> None:
        if self.method not in ("quadrature", "randomized"):
            raise ValueError(f"method must be 'quadrature' or 'randomized', got {self.method!r}")
        if int(self.trials) != self.trials or self.trials < 1:
            raise ValueError(f"trials must be an integer >= 1, got {self.trials!r}")
        if not self.rtol > 0:
            raise ValueError(f"rtol must be > 0, got {self.rtol!r}")


#: ``weight(market, reports)``: allocation weights for reported costs ``(B, K)``.
WeightRule = Callable[[ProcurementMarket, np.ndarray], np.ndarray]
#: ``payment(market, reports, y, options)``: what each domain's creator receives, ``(B, K)``.
PaymentRule = Callable[[ProcurementMarket, np.ndarray, np.ndarray, PaymentOptions], np.ndarray]


@dataclass(frozen=True)
class Mechanism:
    """One mechanism: its allocation weights, its payment rule and who buys.

    Parameters
    ----------
    name : str
    description : str
    buyer : {"platform", "union", "broker"}
        Who deals with the creators: the platform itself, a union reporting for all of
        them, or a broker holding a contract signed before costs are drawn.
    weight : callable or None
        :data:`WeightRule`; ``None`` for M3, which has no closed form.
    payment : callable or None
        :data:`PaymentRule`; ``None`` for M3.
    bounds : tuple of str, optional
        For M3: the mechanisms whose revenues bound it from below and above.
    contract : {"upper", "mean"}, optional
        For a broker: the costs its contract's allocation is computed at (before any draw);
        ``weight`` then returns those costs for every report.
    """

    name: str
    description: str
    buyer: str
    weight: WeightRule | None
    payment: PaymentRule | None
    bounds: tuple[str, str] | None = None
    contract: str | None = None

    def __post_init__(self) -> None:
        if self.buyer not in BUYERS:
            raise ValueError(f"buyer must be one of {BUYERS}, got {self.buyer!r}")
        if (self.weight is None) != (self.payment is None) or (self.weight is None) == (self.bounds is None):
            raise ValueError(f"{self.name}: give weight and payment, or bounds only")
        if self.contract not in (None, "upper", "mean") or (self.contract is not None) != (self.buyer == "broker"):
            raise ValueError(f"{self.name}: a broker (and only a broker) needs contract 'upper' or 'mean'")

    @property
    def playable(self) -> bool:
        """Whether rounds can be played (every mechanism but M3)."""
        return self.weight is not None

    def allocate(self, market: ProcurementMarket, reports) -> np.ndarray:
        """``y = x^rho`` for rows of reported costs.

        A broker's contract is signed before costs are drawn, so it does not depend on the
        reports: it is solved once per market and repeated.
        """
        reports = np.atleast_2d(np.asarray(reports, dtype=float))
        if self.contract is not None:
            return np.repeat(anchored_allocation(market, self.contract)[None], len(reports), axis=0)
        return allocation_of(market, lambda r: self.weight(market, r), reports)


# --- weight rules -----------------------------------------------------------------------------------


def _virtual_costs(market, reports):
    return market.virtual_cost(reports)


def _reported_costs(market, reports):
    return reports


def _upper_bounds(market, reports):
    return np.broadcast_to(market.upper, reports.shape)


def _mean_costs(market, reports):
    return np.broadcast_to(market.mean_cost, reports.shape)


# --- payment rules ----------------------------------------------------------------------------------


def _myerson_virtual(market, reports, y, options):
    return myerson_payments(market, reports, market.virtual_cost, method=options.method, rng=options.rng,
                            trials=options.trials, rtol=options.rtol)


def _myerson_costs(market, reports, y, options):
    return myerson_payments(market, reports, _identity, method=options.method, rng=options.rng,
                            trials=options.trials, rtol=options.rtol)


_CONTRACTS: dict[tuple[int, str], tuple[weakref.ref, np.ndarray]] = {}


def anchored_allocation(market: ProcurementMarket, anchor: str) -> np.ndarray:
    """``y = x^rho`` at the upper bounds (``anchor="upper"``) or the mean costs (``"mean"``).

    These fix the union's payment (M4) and the brokers' contracts (M5, M6); they depend on
    the market only and are computed once per market object.
    """
    key = (id(market), anchor)
    cached = _CONTRACTS.get(key)
    if cached is None or cached[0]() is not market:
        weights = {"upper": market.upper, "mean": market.mean_cost}[anchor]
        value = social_cost_potential(market, weights[None])[1][0]
        value.setflags(write=False)
        cached = (weakref.ref(market), value)
        _CONTRACTS[key] = cached
    return cached[1]


def union_payment(market: ProcurementMarket) -> float:
    r"""``b . y(b)``: what the full union is paid in every draw, whatever its reports (the
    procurement paper's Lemma 2.3: the path integral of ``y`` from ``c`` to ``b`` plus
    ``c . y(c)``); the largest payment any of M1-M6 makes, so also the models' payment scale."""
    return float(market.upper @ anchored_allocation(market, "upper"))


def proportional_shares(total, alone) -> np.ndarray:
    """``total`` shared among the columns of ``alone`` (``(B, m)``) in proportion to each row's
    entries: a union's members' shares by what each would earn alone (Thm 2.4's sharing).

    Parameters
    ----------
    total : float or ndarray broadcasting against ``alone`` (e.g. shape ``(B, 1)``)
    alone : ndarray, shape (B, m)
    """
    return total * alone / alone.sum(axis=1, keepdims=True)


def _union_shares(market, reports, y, options):
    r"""The union is paid :func:`union_payment` in every draw and passes it on to its members
    in proportion to their M2 (Myerson) payments, so each member receives at least what it
    would earn alone (``Rev2 >= Rev4`` draw by draw, Thm 2.4)."""
    return proportional_shares(union_payment(market), _myerson_costs(market, reports, y, options))


def _posted_upper_prices(market, reports, y, options):
    """The broker pays creator ``k`` ``b_k z_k^rho_k``: every type accepts, none earns less."""
    return y * market.upper


#: Every mechanism by name, in the paper's order.
MECHANISMS: dict[str, Mechanism] = {
    m.name: m for m in (
        Mechanism("M1", "revenue-maximising platform buys from creators; virtual-cost weights, Myerson payments",
                  "platform", _virtual_costs, _myerson_virtual),
        Mechanism("M2", "welfare-maximising platform buys from creators; cost weights, Myerson payments",
                  "platform", _reported_costs, _myerson_costs),
        Mechanism("M3", "revenue-maximising platform facing a creator union; no closed form, bounded by "
                  "Rev5 <= Rev3 <= Rev1 and SW3 <= SW2", "union", None, None, bounds=("M5", "M1")),
        Mechanism("M4", "welfare-maximising platform facing a creator union; cost weights, the union is paid "
                  "b . y(b) and shares it in proportion to its members' M2 payments", "union",
                  _reported_costs, _union_shares),
        Mechanism("M5", "revenue-maximising platform contracts a broker before costs are drawn; contract "
                  "z = x(b), t = b . y", "broker", _upper_bounds, _posted_upper_prices, contract="upper"),
        Mechanism("M6", "welfare-maximising platform contracts a broker before costs are drawn; contract "
                  "z = x(E[c]), t = b . y", "broker", _mean_costs, _posted_upper_prices, contract="mean"),
    )
}

#: The mechanisms that can be played round by round (all but M3).
ROUND_MECHANISMS = tuple(name for name, m in MECHANISMS.items() if m.playable)


def _pay_as_bid(market, reports, y, options):
    """Each creator is paid its report times its quantity, ``c_hat_k y_k``: not incentive
    compatible (a truthful creator earns nothing), so creators shade their reports up."""
    return reports * y


#: Mechanisms outside the paper, for comparison only (not in :data:`MECHANISMS`, so the
#: paper's tables are unchanged; :func:`mechanism_round` plays them). ``"PAB"`` (pay-as-bid)
#: allocates like M2 on the reported costs and pays each creator its bid ``c_hat_k y_k``.
COMPARISON_MECHANISMS: dict[str, Mechanism] = {
    "PAB": Mechanism("PAB", "pay-as-bid (comparison, not incentive compatible): cost weights on the reports, "
                     "each creator is paid its reported cost times its quantity", "platform",
                     _reported_costs, _pay_as_bid),
}


def get_mechanism(name: str) -> Mechanism:
    """The mechanism called ``name`` (of :data:`MECHANISMS` or :data:`COMPARISON_MECHANISMS`);
    ``ValueError`` listing the known names otherwise."""
    known = MECHANISMS | COMPARISON_MECHANISMS
    if name not in known:
        raise ValueError(f"mechanism must be one of {list(known)}, got {name!r}")
    return known[name]


@dataclass(frozen=True)
class MechanismOutcome:
    """Per cost draw: the platform's revenue (minus what it pays), welfare (minus the
    creators' total cost), the allocation ``x`` and the creators' payments.

    For M3 only bounds exist: ``revenue`` holds the lower bound (Rev5), ``revenue_upper``
    the upper bound (Rev1), ``welfare`` the upper bound (SW2), ``payments`` is ``None``.
    """

    name: str
    revenue: np.ndarray
    welfare: np.ndarray
    allocation: np.ndarray
    revenue_upper: np.ndarray | None = None
    payments: np.ndarray | None = None


def mechanism_round(market: ProcurementMarket, mechanism: str, reports, method: str = "quadrature",
                    rng=None, trials: int = 100, *, rtol: float = PAYMENT_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Allocation ``y = x^rho`` and payments to each domain's creator for rows of reported costs.

    Parameters
    ----------
    mechanism : str
        A playable name of :data:`MECHANISMS` (M3 has only bounds).
    reports : array_like, shape (B, K)
    method, rng, trials, rtol
        See :class:`PaymentOptions`.

    Returns
    -------
    y, payments : ndarray, shape (B, K)
        For M5/M6, ``y`` is the broker's contract in every row; the platform pays the
        broker ``t = b . y``, which equals the creators' payments summed (zero profit).
    """
    rule = get_mechanism(mechanism)
    if not rule.playable:
        raise ValueError(f"mechanism must be one of {list(ROUND_MECHANISMS)} (M3 has only bounds), got {mechanism!r}")
    options = PaymentOptions(method, rng, trials, rtol)
    reports = np.atleast_2d(np.asarray(reports, dtype=float))
    y = rule.allocate(market, reports)
    return y, rule.payment(market, reports, y, options)


def evaluate_mechanisms(market: ProcurementMarket, cost, method: str = "quadrature", rng=None,
                        trials: int = 100, *, rtol: float = PAYMENT_RTOL, progress=None) -> dict:
    """Every mechanism M1-M6 for each cost vector (rows of ``cost``), reported truthfully.

    Revenue is minus what the platform pays (for M5/M6 the contract's ``t = b . y``),
    welfare minus the creators' total cost. M3's outcome carries the bounds
    ``Rev5 <= Rev3 <= Rev1`` and ``SW3 <= SW2``.

    Parameters
    ----------
    progress : callable, optional
        Called with each mechanism's name once it is done (e.g. a progress bar's update).
    """
    cost = np.atleast_2d(np.asarray(cost, dtype=float))
    generator = np.random.default_rng(rng) if method == "randomized" else rng
    outcomes = {}
    for name in ROUND_MECHANISMS:
        y, payments = mechanism_round(market, name, cost, method=method, rng=generator, trials=trials, rtol=rtol)
        outcomes[name] = MechanismOutcome(name, -payments.sum(axis=1), -(cost * y).sum(axis=1),
                                          y ** (1 / market.rho), payments=payments)
        if progress is not None:
            progress(name)
    low, high = MECHANISMS["M3"].bounds
    outcomes["M3"] = MechanismOutcome("M3", outcomes[low].revenue, outcomes["M2"].welfare,
                                      outcomes["M2"].allocation, revenue_upper=outcomes[high].revenue)
    return {name: outcomes[name] for name in MECHANISMS}


def best_misreport(market: ProcurementMarket, mechanism: str, costs, k: int, points: int = 20,
                   jointly: bool = False, rtol: float = PAYMENT_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """The best report of domain ``k`` on a grid, the others reporting their costs.

    Parameters
    ----------
    costs : array_like, shape (B, K)
        True costs of each draw.
    points : int
        Reports tried besides the truth: ``points`` evenly spaced on ``(a_k, b_k]``.
    jointly : bool
        Judge a report by the utility of all creators together (a union deviating in one
        domain), rather than by domain ``k``'s own.

    Returns
    -------
    reports : ndarray, shape (B,)
        The report of largest utility (the truth on ties).
    gains : ndarray, shape (B,)
        Its utility minus the truthful report's (``>= 0``).
    """
    costs = np.atleast_2d(np.asarray(costs, dtype=float))
    if int(points) != points or points < 1:
        raise ValueError(f"points must be an integer >= 1, got {points!r}")
    grid = np.linspace(market.lower[k], market.upper[k], int(points) + 1)[1:]
    tried = np.concatenate([costs[:, k, None], np.broadcast_to(grid, (len(costs), grid.size))], axis=1)
    reports = np.repeat(costs[:, None, :], tried.shape[1], axis=1)
    reports[:, :, k] = tried
    y, payments = mechanism_round(market, mechanism, reports.reshape(-1, market.n_domains), rtol=rtol)
    true = np.repeat(costs, tried.shape[1], axis=0)
    utility = payments - true * y
    utility = (utility.sum(axis=1) if jointly else utility[:, k]).reshape(tried.shape)
    best = np.argmax(utility, axis=1)
    rows = np.arange(len(costs))
    return tried[rows, best], utility[rows, best] - utility[:, 0]


def expectation(market: ProcurementMarket, function, nodes: int = 16) -> np.ndarray:
    """``E[function(c)]`` over the cost distribution by a Gauss-Legendre product rule in the
    quantiles ``u_k = F_k(c_k)`` (``function`` maps cost vectors ``(N, K)`` to ``(N, ...)``)."""
    shares, weights = gauss_legendre(nodes)
    k = market.n_domains
    grid = np.stack(np.meshgrid(*[shares] * k, indexing="ij"), -1).reshape(-1, k)
    total_weight = np.prod(np.stack(np.meshgrid(*[weights] * k, indexing="ij"), -1).reshape(-1, k), axis=1)
    costs = np.stack([d.ppf(grid[:, j]) for j, d in enumerate(market.costs)], axis=-1)
    return np.tensordot(total_weight, function(costs), axes=1)


def mean_and_error(values) -> tuple[float, float]:
    """The mean of per-draw outcomes ``values`` (1-D) and its standard error
    ``std(ddof=1) / sqrt(n)`` (``nan`` for a single draw)."""
    values = np.asarray(values, dtype=float)
    error = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else np.nan
    return float(values.mean()), error
