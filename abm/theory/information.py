r"""The information sums, the GLS weight ``lambda`` and the marginal value of data: one home.

Every model of the information market (the static market, the fluid limit, the
intermediary's mechanisms, the regimes and the agent-based model) values data through the
same few quantities of Lemmas 10 and 11 of the market-design paper ("Market Design for
AI: Beyond the Copyright Binary"; full reference in ``docs/model.md``). A creator (or a data stock) ``i`` contributes
precision ``x_i`` (an effort or a stock) with loading ``beta_i`` on the common factor:

.. math:: S_j = \sum_i x_i \beta_i^j \ (j = 0, 1, 2),\qquad
          \lambda = \frac{\sigma^2 S_1}{1 + \sigma^2 S_2},\qquad
          P = S_0 - \frac{\sigma^2 S_1^2}{1 + \sigma^2 S_2},\qquad
          \frac{\partial P}{\partial x_i} = (1 - \lambda\beta_i)^2 .

With recursive bias (``sigma^2 = sigma0^2 + kappa P``, Eq. 11 of the dynamic model) the
precision is a fixed point with a closed form, and the marginal value picks up the
feedback factor ``D`` (implicit function theorem). Every function works elementwise, or
along the last axis for the sums, so one call serves one market or a batch of them.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "information_sums",
    "common_factor_weight",
    "gls_precision",
    "marginal_precision_weight",
    "precision_fixed_point",
    "recursive_weights",
    "recursive_marginal_values",
    "diagonal_lambda_integrals",
]


def information_sums(amounts, betas) -> tuple:
    r"""``(S0, S1, S2) = (sum x, sum x beta, sum x beta^2)`` along the last axis.

    Parameters
    ----------
    amounts : array_like
        Efforts of creators (static market) or data stocks (dynamic market).
    betas : array_like
        Loadings on the common factor, broadcastable against ``amounts``.
    """
    amounts = np.asarray(amounts, dtype=float)
    weighted = amounts * betas
    return amounts.sum(axis=-1), weighted.sum(axis=-1), (weighted * betas).sum(axis=-1)


def common_factor_weight(sigma_sq, s1, s2):
    r"""``lambda = sigma^2 S1 / (1 + sigma^2 S2)`` (Lemma 10).

    ``1 - lambda beta_i`` is the weight creator ``i``'s precision keeps in the GLS estimate
    once the common factor has been filtered out.
    """
    return sigma_sq * s1 / (1.0 + sigma_sq * s2)


def gls_precision(sigma_sq, s0, s1, s2):
    r"""Effective precision ``P = S0 - sigma^2 S1^2 / (1 + sigma^2 S2)`` (Lemma 11,
    Sherman--Morrison on ``diag(1/x) + sigma^2 beta beta^T``)."""
    return s0 - sigma_sq * s1 * s1 / (1.0 + sigma_sq * s2)


def marginal_precision_weight(lam, betas):
    r"""``(1 - lambda beta_i)^2``: the precision one more unit of creator ``i``'s data adds
    at fixed ``sigma^2`` (Lemma 10)."""
    gap = 1.0 - lam * np.asarray(betas, dtype=float)
    return gap * gap


def precision_fixed_point(s0, s1, s2, sigma0_sq: float, kappa: float):
    r"""Solve ``P = F(S, sigma0^2 + kappa P)`` (Eq. 11) in closed form.

    With ``Q = S0 S2 - S1^2 >= 0`` (Cauchy--Schwarz), multiplying out gives
    ``kappa S2 P^2 + (1 + sigma0^2 S2 - kappa Q) P - (S0 + sigma0^2 Q) = 0``, whose
    non-negative root is the unique fixed point (the right side falls in ``P``). Each of
    the two algebraically equal forms of the root is free of cancellation for one sign of
    the linear coefficient.
    """
    s0, s1, s2 = (np.asarray(x, dtype=float) for x in (s0, s1, s2))
    spread = np.maximum(s0 * s2 - s1 * s1, 0.0)  # clip rounding below zero
    a = kappa * s2
    b = 1.0 + sigma0_sq * s2 - kappa * spread
    c = s0 + sigma0_sq * spread
    root = np.sqrt(b * b + 4.0 * a * c)
    with np.errstate(divide="ignore", invalid="ignore"):
        stable = np.where(b > 0, 2.0 * c / (b + root), (root - b) / (2.0 * a))
    return stable if stable.ndim else float(stable)


def recursive_weights(s1, s2, current_precision, sigma0_sq: float, kappa: float) -> tuple:
    r"""``(lambda, D)`` at precision ``P`` under recursive bias ``sigma^2 = sigma0^2 + kappa P``.

    ``lambda`` as in :func:`common_factor_weight`; ``D = 1 + kappa S1^2 / (1 + sigma^2 S2)^2``
    is the feedback of the recursive bias (implicit function theorem on Eq. 11).
    """
    sigma_sq = sigma0_sq + kappa * current_precision
    denominator = 1.0 + sigma_sq * s2
    return common_factor_weight(sigma_sq, s1, s2), 1.0 + kappa * s1 * s1 / (denominator * denominator)


def recursive_marginal_values(s1, s2, current_precision, sigma0_sq: float, kappa: float, betas):
    r"""``m_i = dP/dX_i = (1 - lambda beta_i)^2 / D`` under recursive bias (:func:`recursive_weights`)."""
    lam, feedback = recursive_weights(s1, s2, current_precision, sigma0_sq, kappa)
    return marginal_precision_weight(lam, betas) / feedback


#: Below this ``b`` the closed forms of :func:`diagonal_lambda_integrals` cancel (their brackets
#: are ``~b/2`` and ``~b^2/3``, so rounding is amplified ``1/b^2`` times): use the series.
SERIES_THRESHOLD = 0.1
#: Terms of the series; the truncation error is below ``SERIES_THRESHOLD ** SERIES_TERMS = 1e-20``.
SERIES_TERMS = 20


def diagonal_lambda_integrals(a: float, b: float) -> tuple[float, float]:
    r"""``(int_0^1 lambda(s) ds, int_0^1 lambda(s)^2 ds)`` along the diagonal ``s e``.

    On the ray ``s e`` the sums scale with ``s``, so ``lambda(s) = a s / (1 + b s)`` with
    ``a = sigma^2 S1(e)`` and ``b = sigma^2 S2(e)``. Integrating exactly,

    .. math:: \int_0^1\lambda = \frac ab\Big(1 - \frac{\ln(1+b)}{b}\Big),\qquad
              \int_0^1\lambda^2 = \Big(\frac ab\Big)^2\Big(1 - \frac{2\ln(1+b)}{b} + \frac1{1+b}\Big).

    For ``b < 0.1`` the brackets lose digits to cancellation (relative error
    ``~ eps / b^2``), so the Taylor series in ``b`` (20 terms, truncation error below
    ``1e-20`` relative) is used instead; at ``b >= 0.1`` the closed form's rounding error is
    below ``2e-14`` relative.
    A fixed quadrature rule misses the boundary layer of width ``1/b`` at ``s = 0`` once
    ``b`` is large; this form has no such limit.
    """
    if b < SERIES_THRESHOLD:
        # int_0^1 s/(1+bs) ds = sum_n (-b)^n / (n+2); int_0^1 s^2/(1+bs)^2 ds = sum_n (n+1)(-b)^n / (n+3).
        terms = np.arange(SERIES_TERMS)
        powers = (-b) ** terms
        first = a * float(np.sum(powers / (terms + 2)))
        second = a * a * float(np.sum((terms + 1) * powers / (terms + 3)))
        return first, second
    log_term = np.log1p(b) / b
    ratio = a / b
    return float(ratio * (1.0 - log_term)), float(ratio * ratio * (1.0 - 2.0 * log_term + 1.0 / (1.0 + b)))
