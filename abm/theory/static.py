r"""The static information market (market-design paper, Section 3).

Creator ``i`` publishes ``s_i = theta + beta_i * eta + eps_i`` with idiosyncratic noise of
precision ``effort_i`` and a common factor ``eta ~ N(common_mean, sigma2)``.  The AI firm
posts a price per unit of effort, creators best-respond with ``effort = price / cost`` and
the firm forms the GLS (best linear unbiased) estimate of ``theta``.

Everything here is a pure function of an :class:`InformationMarket` and numpy arrays, and
every equilibrium is found as a one-dimensional root in the scalar ``lambda`` of Lemma 10,
so solving for ``n`` creators costs ``O(n)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from abm.theory._validation import frozen_array, require_positive
from abm.theory.information import (
    common_factor_weight as _lambda_from_sums,
    gls_precision,
    information_sums,
    marginal_precision_weight,
)

__all__ = [
    "DEFAULT_BETA",
    "InformationMarket",
    "Outcome",
    "SignalDraws",
    "effective_precision",
    "marginal_precision",
    "common_factor_weight",
    "efforts_given_lambda",
    "stackelberg",
    "social_optimum",
    "free_for_all",
    "outcome_at",
    "originality_penalty",
    "simulate_signals",
    "gls_estimate",
]

#: The embedded default static market's loadings: three innovators and nine rank-and-file creators.
DEFAULT_BETA = (0.0, 0.05, 0.1, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)

#: Share of the marginal value of precision a creator's effort receives (Lemma 10):
#: the monopsonist pays half of it, the planner all of it.
MARKET_SHARE = 0.5
PLANNER_SHARE = 1.0


@dataclass(frozen=True)
class InformationMarket:
    """Parameters of the static market (market-design paper, Section 3).

    Parameters
    ----------
    beta : array_like
        Loadings ``beta_i >= 0`` of the creators' signals on the common factor; small is
        original (an innovator), large is conventional (rank-and-file).
    cost : float
        Effort cost coefficient ``c > 0``; a creator's cost is ``c * effort**2 / 2``.
    sigma2 : float
        Prior variance ``sigma^2 > 0`` of the common factor.
    value : float
        The firm's value ``v > 0`` of one unit of precision (the paper uses 1).
    common_mean : float
        Public prior mean ``b`` of the common factor; it shifts signals, never precision.

    Raises
    ------
    ValueError
        Naming the field and the broken condition.
    """

    beta: np.ndarray
    cost: float = 1.0
    sigma2: float = 1.0
    value: float = 1.0
    common_mean: float = 0.0

    def __post_init__(self) -> None:
        beta = frozen_array(self.beta, "beta")
        if beta.ndim != 1 or beta.size == 0:
            raise ValueError(f"beta must be a non-empty 1-D array, got shape {beta.shape}")
        if np.any(beta < 0):
            raise ValueError(f"beta must be >= 0 for every creator, got min {beta.min()}")
        object.__setattr__(self, "beta", beta)
        for name in ("cost", "sigma2", "value"):
            object.__setattr__(self, name, require_positive(getattr(self, name), name))
        if not np.isfinite(self.common_mean):
            raise ValueError(f"common_mean must be finite, got {self.common_mean}")

    @property
    def n_creators(self) -> int:
        """Number of creators ``n``."""
        return int(self.beta.size)


@dataclass(frozen=True)
class Outcome:
    """An allocation of effort in the static market and what it is worth.

    Attributes
    ----------
    effort, price : ndarray
        Effort per creator and the price per unit of effort that implements it
        (``price = cost * effort``, the creator's best response inverted).
    precision : float
        Effective precision ``P(effort)`` (Lemma 11).
    firm_profit : float
        ``value * P - sum(price * effort)``.
    creator_payoff : ndarray
        ``price * effort - cost * effort**2 / 2`` per creator.
    welfare : float
        ``value * P - cost/2 * sum(effort**2)``; payments are transfers.
    lam : float
        The scalar ``lambda = sigma2*S1 / (1 + sigma2*S2)`` at this allocation (Lemma 10).
    converged : bool
        Whether the root finder met its tolerance; ``True`` for closed forms.
    iterations : int
        Root-finder iterations (0 for closed forms).
    residual : float
        ``|lambda - lambda(effort(lambda))|`` recomputed directly from the efforts.
    """

    effort: np.ndarray
    price: np.ndarray
    precision: float
    firm_profit: float
    creator_payoff: np.ndarray
    welfare: float
    lam: float
    converged: bool = True
    iterations: int = 0
    residual: float = 0.0

    def __post_init__(self) -> None:
        for name in ("effort", "price", "creator_payoff"):
            object.__setattr__(self, name, frozen_array(getattr(self, name), name))

    @property
    def creator_surplus(self) -> float:
        """Total payoff of all creators."""
        return float(self.creator_payoff.sum())


def _check_effort(market: InformationMarket, effort) -> np.ndarray:
    effort = np.asarray(effort, dtype=float)
    if effort.shape != market.beta.shape:
        raise ValueError(
            f"effort must have one entry per creator, shape {market.beta.shape}, got {effort.shape}"
        )
    if not np.all(np.isfinite(effort)) or np.any(effort < 0):
        raise ValueError("effort must be finite and >= 0 for every creator")
    return effort


def common_factor_weight(market: InformationMarket, effort) -> float:
    r"""The scalar :math:`\lambda(e) = \sigma^2 S_1 / (1 + \sigma^2 S_2)` of Lemma 10.

    ``1 - lambda * beta_i`` is the weight creator ``i``'s precision gets in the GLS estimate
    once the common factor has been filtered out.
    """
    effort = _check_effort(market, effort)
    _, s1, s2 = information_sums(effort, market.beta)
    return float(_lambda_from_sums(market.sigma2, s1, s2))


def effective_precision(market: InformationMarket, effort) -> float:
    r"""Effective precision of the GLS estimate of theta (Lemma 11).

    .. math:: P(e) = \mathbf 1^\top\Sigma^{-1}\mathbf 1 = S_0 - \frac{\sigma^2 S_1^2}{1+\sigma^2 S_2},
              \quad S_j = \textstyle\sum_i e_i\beta_i^j,

    obtained by Sherman--Morrison on ``Sigma = diag(1/e) + sigma2 * beta beta^T``.
    Creators with zero effort contribute nothing.
    """
    effort = _check_effort(market, effort)
    return float(gls_precision(market.sigma2, *information_sums(effort, market.beta)))


def marginal_precision(market: InformationMarket, effort) -> np.ndarray:
    r"""Gradient of :func:`effective_precision`: :math:`\partial P/\partial e_i = (1-\lambda\beta_i)^2`."""
    return marginal_precision_weight(common_factor_weight(market, effort), market.beta)


def efforts_given_lambda(market: InformationMarket, lam: float, share: float) -> np.ndarray:
    r"""Efforts of the first-order conditions (Lemma 10, Eq. 24) at a given ``lambda``.

    ``effort_i = share * value * (1 - lam*beta_i)**2 / cost``, with ``share = 1/2`` for the
    Stackelberg market and ``1`` for the social optimum.
    """
    return share * market.value * marginal_precision_weight(lam, market.beta) / market.cost


def _lambda_fixed_point(market: InformationMarket, share: float) -> tuple[float, int, bool]:
    r"""Solve ``lambda = lambda(effort(lambda))`` for the first-order-condition efforts.

    Multiplying through by ``1 + sigma2*S2`` gives
    ``h(lam) = lam + k * sum(beta * (lam*beta - 1)**3) = 0`` with
    ``k = sigma2 * share * value / cost``; ``h' = 1 + 3k sum(beta^2 (lam beta - 1)^2) > 0``
    so the root is unique, and ``h(0) = -k sum(beta) <= 0 <= h(k sum(beta))`` brackets it.
    """
    beta = market.beta
    k = market.sigma2 * share * market.value / market.cost
    upper = k * float(beta.sum())
    if upper == 0.0:
        return 0.0, 0, True

    def h(lam: float) -> float:
        gap = lam * beta - 1.0
        return lam + k * float(np.dot(beta, gap * gap * gap))

    # In exact arithmetic h(0) < 0 < h(upper); with loadings near the underflow threshold
    # rounding can make an end point a root, which brentq would reject.
    if h(0.0) >= 0.0:
        return 0.0, 0, True
    if h(upper) <= 0.0:
        return upper, 0, True
    lam, info = optimize.brentq(h, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                                full_output=True, disp=False)
    return float(lam), int(info.iterations), bool(info.converged)


def outcome_at(market: InformationMarket, effort, price=None, *, lam_solver=None) -> Outcome:
    """Value an effort profile: precision, profit, payoffs and welfare.

    Parameters
    ----------
    market : InformationMarket
    effort : array_like
        Effort per creator.
    price : array_like, optional
        Price per unit of effort paid to each creator; defaults to ``cost * effort``, the
        price at which ``effort`` is each creator's best response.
    lam_solver : tuple, optional
        ``(lam, iterations, converged)`` from a root finder, for diagnostics.
    """
    effort = _check_effort(market, effort)
    price = market.cost * effort if price is None else np.asarray(price, dtype=float)
    precision = effective_precision(market, effort)
    lam_here = common_factor_weight(market, effort)
    lam, iterations, converged = lam_solver if lam_solver else (lam_here, 0, True)
    scale = max(1.0, abs(lam_here))
    payoff = price * effort - 0.5 * market.cost * effort**2
    return Outcome(
        effort=effort,
        price=price,
        precision=precision,
        firm_profit=market.value * precision - float(np.dot(price, effort)),
        creator_payoff=payoff,
        welfare=market.value * precision - 0.5 * market.cost * float(np.dot(effort, effort)),
        lam=lam,
        converged=converged,
        iterations=iterations,
        residual=abs(lam - lam_here) / scale,
    )


def _solve(market: InformationMarket, share: float) -> Outcome:
    lam, iterations, converged = _lambda_fixed_point(market, share)
    effort = efforts_given_lambda(market, lam, share)
    return outcome_at(market, effort, lam_solver=(lam, iterations, converged))


def stackelberg(market: InformationMarket) -> Outcome:
    r"""Market equilibrium: the firm leads with prices, creators follow (Lemma 10, Prop. 3).

    The firm maximises ``value * P(e) - cost * sum(e**2)`` (it pays ``p_i = c e_i`` per unit),
    whose first-order condition is ``e_i = value (1 - lam beta_i)^2 / (2 cost)``.
    """
    return _solve(market, MARKET_SHARE)


def social_optimum(market: InformationMarket) -> Outcome:
    r"""First best: maximise ``value * P(e) - cost/2 * sum(e**2)`` (Lemma 10, Prop. 3).

    First-order condition ``e_i = value (1 - lam beta_i)^2 / cost``. The reported ``price``
    is the per-unit price that would implement it (the intermediary's unit price of Lemma 7).
    """
    return _solve(market, PLANNER_SHARE)


def free_for_all(market: InformationMarket) -> Outcome:
    """Unrestricted scraping (Remark 2): price zero, so effort, precision and profit are zero."""
    return outcome_at(market, np.zeros(market.n_creators))


def originality_penalty(market: InformationMarket) -> np.ndarray:
    r"""Ratio ``e_i^M / e_i^S`` of market to efficient effort per creator (Prop. 4).

    Equals 1/2 for ``beta_i = 0`` and strictly increases with ``beta_i``; it can exceed 1
    for the most conformist creators of a heterogeneous market.  A creator whose efficient
    effort is exactly zero gets ``inf`` (positive market effort) or ``nan`` (both zero).
    """
    market_lam = _lambda_fixed_point(market, MARKET_SHARE)[0]
    planner_lam = _lambda_fixed_point(market, PLANNER_SHARE)[0]
    numerator = efforts_given_lambda(market, market_lam, MARKET_SHARE)
    denominator = efforts_given_lambda(market, planner_lam, PLANNER_SHARE)
    with np.errstate(divide="ignore", invalid="ignore"):
        return numerator / denominator


@dataclass(frozen=True)
class SignalDraws:
    """Independent draws of the state and of every creator's signal.

    Attributes
    ----------
    theta : ndarray, shape (n_draws,)
    eta : ndarray, shape (n_draws,)
    signals : ndarray, shape (n_draws, n_creators)
        Signals of creators with zero effort are ``nan`` (infinite noise).
    """

    theta: np.ndarray
    eta: np.ndarray
    signals: np.ndarray = field(repr=False)


def simulate_signals(market: InformationMarket, effort, n_draws: int, rng) -> SignalDraws:
    """Draw ``theta ~ N(0, 1)``, the common factor and all signals (market-design paper, Eqs. 1-2).

    Parameters
    ----------
    market : InformationMarket
    effort : array_like
        Precision of each creator's idiosyncratic noise.
    n_draws : int
        Number of independent replications.
    rng : numpy.random.Generator or seed
        The only source of randomness.
    """
    effort = _check_effort(market, effort)
    if int(n_draws) < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    rng = np.random.default_rng(rng)
    theta = rng.standard_normal(n_draws)
    eta = market.common_mean + np.sqrt(market.sigma2) * rng.standard_normal(n_draws)
    with np.errstate(divide="ignore"):
        noise_sd = np.where(effort > 0, 1.0 / np.sqrt(effort), np.nan)
    noise = rng.standard_normal((n_draws, market.n_creators)) * noise_sd
    signals = theta[:, None] + eta[:, None] * market.beta + noise
    return SignalDraws(theta=theta, eta=eta, signals=signals)


def gls_estimate(market: InformationMarket, effort, signals) -> np.ndarray:
    r"""Best linear unbiased estimate of theta from the signals (proof of Lemma 11).

    With Sherman--Morrison, :math:`\Sigma^{-1}\mathbf 1 = e\odot(1-\lambda\beta)`, so the
    estimate is ``sum_i e_i (1 - lam beta_i)(s_i - b beta_i) / P``; its MSE is ``1 / P``.
    Creators with zero effort get zero weight.
    """
    effort = _check_effort(market, effort)
    precision = effective_precision(market, effort)
    if precision <= 0:
        raise ValueError("no creator exerts effort: theta cannot be estimated (precision 0)")
    lam = common_factor_weight(market, effort)
    weights = effort * (1.0 - lam * market.beta) / precision
    centred = np.asarray(signals, dtype=float) - market.common_mean * market.beta
    active = effort > 0
    return centred[..., active] @ weights[active]
