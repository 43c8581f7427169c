r"""Creators who learn how to report over repeated rounds (issue 18, part 3).

Each creator holds a Hedge (multiplicative weights) learner over a grid of shading factors
``s``: it reports ``s`` times its true cost, clipped to its domain's support ``[a_k, b_k]``
(the mechanisms are defined on reports inside the support). Every round it draws one factor
from its weights (with the model's generator) and uses it for all the round's draws; after the
round is settled it learns with full information, i.e. it evaluates what every factor would
have earned against the others' actual reports (the mechanism is public, so this
counterfactual is computable) and updates

.. math:: w_g \leftarrow w_g \exp(\eta\, u_g / S), \qquad \text{then normalise,}

where ``u_g`` is the round's mean utility (payment minus true cost times ``x^rho``) of factor
``g`` and ``S = b . y(b)`` (the largest payment any paper mechanism makes) puts utilities on a
common scale. With rewards in an interval of length 1 and ``eta = sqrt(8 ln G / T)`` Hedge's
regret after ``T`` rounds is at most ``sqrt(T ln G / 2)`` (Freund and Schapire 1997;
Cesa-Bianchi and Lugosi 2006, Thm 2.2); that is the default rate.

Under an incentive-compatible mechanism (M1, M2: Myerson payments with an allocation
monotone in the own report) the truthful factor ``s = 1`` earns at least as much as any other
factor in every round, whatever the others report, so the ratio of its weight to any other
factor's never falls and the learned strategy concentrates on truth-telling. Under pay-as-bid
(:data:`~abm.theory.procurement.mechanisms.COMPARISON_MECHANISMS`) truth earns nothing and the
weights move to factors above 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abm.theory.procurement.mechanisms import mechanism_round

__all__ = ["LEARNING_RULES", "DEFAULT_SHADING_GRID", "EXPERIMENT_LEARNING_RATE", "LearningSettings", "HedgeLearner",
           "default_learning_rate", "learning_runs", "summarise_runs",
           "shaded_reports", "counterfactual_utilities"]

#: The learning rules a creator can follow (``creator_learning`` of the model).
LEARNING_RULES = ("hedge",)
#: Shading factors tried by default: reports from half to three times the true cost.
DEFAULT_SHADING_GRID = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)


def default_learning_rate(grid_size: int, rounds: int) -> float:
    """``sqrt(8 ln G / T)``: Hedge's rate for ``G`` experts over a horizon of ``T`` rounds
    (Cesa-Bianchi and Lugosi 2006, Thm 2.2), regret at most ``sqrt(T ln G / 2)``."""
    return float(np.sqrt(8.0 * np.log(max(grid_size, 2)) / rounds))


@dataclass(frozen=True)
class LearningSettings:
    """How creators learn.

    Parameters
    ----------
    shading_grid : tuple of float
        Factors ``s > 0``, strictly increasing, containing ``1.0`` (truth-telling).
    learning_rate : float
        Hedge's ``eta > 0`` per unit of utility scaled by ``b . y(b)``.
    """

    shading_grid: tuple
    learning_rate: float

    def __post_init__(self) -> None:
        grid = np.asarray(self.shading_grid, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(f"shading_grid must hold at least two finite factors > 0, got {self.shading_grid!r}")
        if np.any(np.diff(grid) <= 0):
            raise ValueError(f"shading_grid must be strictly increasing, got {self.shading_grid!r}")
        if not np.any(grid == 1.0):
            raise ValueError(f"shading_grid must contain 1.0 (truth-telling), got {self.shading_grid!r}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be finite and > 0, got {self.learning_rate!r}")
        object.__setattr__(self, "shading_grid", tuple(float(s) for s in grid))

    @property
    def truthful_index(self) -> int:
        """Position of ``s = 1`` in the grid."""
        return self.shading_grid.index(1.0)


def shaded_reports(market, domain: int, costs, factors) -> np.ndarray:
    """Reports ``s c_k`` clipped to ``[a_k, b_k]`` for costs ``(B,)`` and factors ``(G,)``: ``(B, G)``."""
    costs = np.asarray(costs, dtype=float)
    return np.clip(costs[:, None] * np.asarray(factors, dtype=float)[None], market.lower[domain], market.upper[domain])


def counterfactual_utilities(market, mechanism: str, costs, reports, domain: int, factors) -> np.ndarray:
    """What each shading factor would have earned domain ``domain``'s creator, the others
    reporting as they did.

    Parameters
    ----------
    costs, reports : array_like, shape (B, K)
        The round's true costs and actual reports.
    factors : array_like, shape (G,)

    Returns
    -------
    ndarray, shape (B, G)
        ``p_k - c_k y_k`` per draw and factor (the procurement paper's creator utility).
    """
    costs, reports = np.atleast_2d(costs), np.atleast_2d(reports)
    tried = shaded_reports(market, domain, costs[:, domain], factors)
    batch = np.repeat(reports[:, None, :], tried.shape[1], axis=1)
    batch[:, :, domain] = tried
    y, payments = mechanism_round(market, mechanism, batch.reshape(-1, market.n_domains))
    utility = payments[:, domain] - np.repeat(costs[:, domain], tried.shape[1]) * y[:, domain]
    return utility.reshape(tried.shape)


class HedgeLearner:
    """One creator's Hedge weights over shading factors, with its history.

    Parameters
    ----------
    settings : LearningSettings
    scale : float
        ``S > 0``: utilities are divided by it before the update.

    Attributes
    ----------
    weights : ndarray, shape (G,)
        Current probabilities of the factors (uniform at the start).
    played : float
        The factor of the last round.
    utility_history, weight_history : list of ndarray
        Per round: every factor's mean utility, and the weights the round was played with.
    """

    def __init__(self, settings: LearningSettings, scale: float) -> None:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be finite and > 0, got {scale!r}")
        self.settings, self.scale = settings, float(scale)
        self.factors = np.asarray(settings.shading_grid)
        self._log_weights = np.zeros(self.factors.size)
        self.weights = np.full(self.factors.size, 1.0 / self.factors.size)
        self.played = 1.0
        self.utility_history: list[np.ndarray] = []
        self.weight_history: list[np.ndarray] = []

    def choose(self, rng: np.random.Generator) -> float:
        """Draw this round's factor from the weights."""
        self.played = float(self.factors[rng.choice(self.factors.size, p=self.weights)])
        return self.played

    def update(self, utilities) -> None:
        """Hedge step with every factor's mean utility of the round, ``(G,)``."""
        utilities = np.asarray(utilities, dtype=float)
        if utilities.shape != self.factors.shape or not np.all(np.isfinite(utilities)):
            raise ValueError(f"utilities must be {self.factors.size} finite values, got {utilities!r}")
        self.weight_history.append(self.weights.copy())
        self.utility_history.append(utilities.copy())
        self._log_weights += self.settings.learning_rate * utilities / self.scale
        self._log_weights -= self._log_weights.max()
        weights = np.exp(self._log_weights)
        self.weights = weights / weights.sum()

    @property
    def truthful_weight(self) -> float:
        """Current probability of reporting the true cost."""
        return float(self.weights[self.settings.truthful_index])

    @property
    def mean_factor(self) -> float:
        """Current expected shading factor ``sum_g w_g s_g``."""
        return float(self.weights @ self.factors)

    def deviation_gains(self, window: int) -> tuple[float, float]:
        """Over the last ``window`` rounds: the best fixed factor's mean utility minus (a) the
        learned strategy's expected utility (its regret: no factor gains more than this against
        what was learned), (b) truth-telling's mean utility (what a deviation from truth gains)."""
        utilities = np.asarray(self.utility_history[-window:])
        weights = np.asarray(self.weight_history[-window:])
        best = utilities.mean(axis=0).max()
        return float(best - np.sum(weights * utilities, axis=1).mean()), \
            float(best - utilities[:, self.settings.truthful_index].mean())


#: Rate of the IC experiment, per unit of utility scaled by ``b . y(b)``: deviations near
#: truth cost creators only second-order amounts under M1/M2, so the theory's default
#: ``sqrt(8 ln G / T)`` (about 0.3 for 200 rounds) barely moves the weights in that horizon.
EXPERIMENT_LEARNING_RATE = 20.0


def learning_runs(mechanisms=("M2", "PAB"), seeds=range(5), rounds: int = 200,
                  learning_rate: float = EXPERIMENT_LEARNING_RATE, market="table1", window: int | None = None,
                  shading_grid=DEFAULT_SHADING_GRID, progress=None):
    """The emergent-IC experiment: learning creators under each mechanism, one run per seed.

    Parameters
    ----------
    mechanisms : sequence of str
        Names :func:`~abm.theory.procurement.mechanism_round` plays (M1, M2, PAB, ...).
    seeds : iterable of int
        One :class:`~abm.simulation.procurement.ProcurementModel` run each (``rng=seed``).
    window : int, optional
        Last rounds the summaries average over (default a quarter of ``rounds``).
    progress : callable, optional
        Called once per finished run.

    Returns
    -------
    pandas.DataFrame
        One row per ``(mechanism, seed, domain)``: final ``truthful_weight`` and
        ``mean_shading`` (expected factor), ``report_ratio`` (mean report over cost in the
        window), ``regret`` (best fixed factor's mean utility minus the learned strategy's
        expected utility, window) and ``truth_gain`` (best fixed factor minus truth-telling).
    """
    import pandas as pd

    from abm.simulation.procurement.model import ProcurementModel

    window = max(1, rounds // 4) if window is None else int(window)
    rows = []
    for mechanism in mechanisms:
        for seed in seeds:
            model = ProcurementModel(market, mechanism=mechanism, rounds=rounds, compare=False, rng=int(seed),
                                     creator_learning="hedge", learning_rate=learning_rate, shading_grid=shading_grid)
            table = model.run()
            for creator in model.creators:
                k, learner = creator.domain, creator.learner
                regret, truth_gain = learner.deviation_gains(window)
                tail = table.iloc[-window:]
                rows.append({"mechanism": mechanism, "seed": int(seed), "domain": k,
                             "truthful_weight": learner.truthful_weight, "mean_shading": learner.mean_factor,
                             "report_ratio": float((tail[f"report_{k}"] / tail[f"cost_{k}"]).mean()),
                             "regret": regret, "truth_gain": truth_gain, "scale": learner.scale})
            if progress is not None:
                progress()
    return pd.DataFrame(rows)


def summarise_runs(runs, confidence: float = 0.95):
    """Mean over seeds and a Student-t confidence interval of each measure, per mechanism and domain.

    Returns
    -------
    pandas.DataFrame
        ``mechanism``, ``domain``, ``seeds`` and, for each measure, ``<measure>``,
        ``<measure>_lower``, ``<measure>_upper``.
    """
    import pandas as pd

    from abm.simulation.run import confidence_interval  # a heavy module (the dynamic market): imported on use

    measures = ("truthful_weight", "mean_shading", "report_ratio", "regret", "truth_gain")
    rows = []
    for (mechanism, domain), group in runs.groupby(["mechanism", "domain"], sort=False):
        row = {"mechanism": mechanism, "domain": int(domain), "seeds": len(group)}
        for measure in measures:
            mean, lower, upper = confidence_interval(group[measure].to_numpy(float), confidence)
            row |= {measure: mean, f"{measure}_lower": lower, f"{measure}_upper": upper}
        rows.append(row)
    return pd.DataFrame(rows)
