"""The *Static market* page: efforts, prices and the originality penalty against beta.

The population is typed (a list of loadings ``beta``) or drawn (innovators' loadings
uniform on ``[0, 0.2)``, rank-and-file creators' on ``[0.6, 1.0)``, from a seed). Every
change re-solves :func:`~abm.theory.static.stackelberg`,
:func:`~abm.theory.static.social_optimum`, :func:`~abm.theory.static.free_for_all` and
:func:`~abm.theory.static.originality_penalty` (each a one-dimensional root, ``O(n)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import solara
from matplotlib.figure import Figure

from abm.dashboard.widgets import ControlSlider, Help, HtmlTable, PageTitle, figure_image
from abm.theory.static import DEFAULT_BETA
from abm.theory.static import InformationMarket, free_for_all, originality_penalty, social_optimum, stackelberg

__all__ = ["parse_betas", "draw_betas", "StaticSolution", "solve_static", "static_figure", "totals_rows", "Page"]

#: Where drawn loadings lie, by type.
INNOVATOR_BETAS = (0.0, 0.2)
RANK_AND_FILE_BETAS = (0.6, 1.0)


def parse_betas(text: str) -> np.ndarray:
    """Loadings typed as numbers separated by commas or spaces; ``ValueError`` saying what is wrong."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not parts:
        raise ValueError("type at least one loading beta")
    try:
        beta = np.array([float(p) for p in parts])
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise ValueError(f"{bad!r} is not a number") from None
    if not np.all(np.isfinite(beta)) or np.any(beta < 0):
        raise ValueError("every loading beta must be a finite number >= 0")
    return beta


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def draw_betas(innovators: int, rank_and_file: int, seed: int) -> np.ndarray:
    """``innovators`` loadings uniform on :data:`INNOVATOR_BETAS`, ``rank_and_file`` on
    :data:`RANK_AND_FILE_BETAS`, from ``seed``."""
    if innovators + rank_and_file < 1:
        raise ValueError("draw at least one creator")
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(*INNOVATOR_BETAS, innovators), rng.uniform(*RANK_AND_FILE_BETAS, rank_and_file)])


@dataclass(frozen=True, eq=False)
class StaticSolution:
    """A solved static market (compared by identity)."""

    market: InformationMarket
    outcomes: dict
    penalty: np.ndarray


def solve_static(beta, cost: float, sigma2: float, value: float) -> StaticSolution:
    """The market's Stackelberg equilibrium, social optimum, free-for-all and originality penalty."""
    market = InformationMarket(np.asarray(beta, dtype=float), cost=cost, sigma2=sigma2, value=value)
    outcomes = {"market (Stackelberg)": stackelberg(market), "social optimum": social_optimum(market),
                "free-for-all": free_for_all(market)}
    return StaticSolution(market, outcomes, originality_penalty(market))


def static_figure(solution: StaticSolution, width: float = 13.0) -> Figure:
    """Three panels against beta: efforts, prices, and the originality penalty ``e^M / e^S``."""
    market, outcomes = solution.market, solution.outcomes
    order = np.argsort(market.beta, kind="stable")
    beta = market.beta[order]
    market_outcome, optimum = outcomes["market (Stackelberg)"], outcomes["social optimum"]
    fig = Figure(figsize=(width, 0.33 * width), dpi=90)
    fig.subplots_adjust(left=0.055, right=0.99, bottom=0.15, top=0.9, wspace=0.26)
    axes = fig.subplots(1, 3)
    style = dict(marker="o", ms=4, lw=1.2)
    axes[0].plot(beta, market_outcome.effort[order], color="C0", label="market (Stackelberg)", **style)
    axes[0].plot(beta, optimum.effort[order], color="C2", ls="--", label="social optimum", **style)
    axes[0].set_title("Effort against the loading beta")
    axes[0].set_ylabel("effort (precision of the creator's signal)")
    axes[1].plot(beta, market_outcome.price[order], color="C0", label="market price", **style)
    axes[1].plot(beta, optimum.price[order], color="C2", ls="--", label="price that implements the optimum", **style)
    axes[1].set_title("Price against the loading beta")
    axes[1].set_ylabel("price (value units per unit of effort)")
    with np.errstate(invalid="ignore"):
        ratio = solution.penalty[order]
    axes[2].plot(beta, ratio, color="C3", label="market effort / efficient effort", **style)
    axes[2].axhline(0.5, color="C2", ls=":", lw=1.2, label="1/2: an innovator's ratio (beta = 0)")
    axes[2].axhline(1.0, color="0.4", ls="--", lw=1.0, label="1: efficient")
    axes[2].set_title("Originality penalty")
    axes[2].set_ylabel("market effort / efficient effort (ratio)")
    for ax in axes:
        ax.set_xlabel("loading beta on the common factor (0 = original)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    return fig


def totals_rows(solution: StaticSolution) -> list[tuple]:
    """One row per outcome: precision, firm profit, creator surplus, welfare."""
    return [(name, f"{o.precision:.5g}", f"{o.firm_profit:.5g}", f"{o.creator_surplus:.5g}", f"{o.welfare:.5g}")
            for name, o in solution.outcomes.items()]


def creator_rows(solution: StaticSolution) -> list[tuple]:
    """One row per creator, sorted by beta: efforts, prices and the penalty ratio."""
    market, outcomes = solution.market, solution.outcomes
    m, s = outcomes["market (Stackelberg)"], outcomes["social optimum"]
    return [(f"{market.beta[i]:.3g}", f"{m.effort[i]:.4g}", f"{s.effort[i]:.4g}", f"{m.price[i]:.4g}",
             f"{solution.penalty[i]:.4g}") for i in np.argsort(market.beta, kind="stable")]


# --- the page ------------------------------------------------------------------------------------------

_mode = solara.reactive("typed")
_typed = solara.reactive(", ".join(f"{b:g}" for b in DEFAULT_BETA))
_innovators = solara.reactive(3)
_rank_and_file = solara.reactive(9)
_seed = solara.reactive(0)
_cost = solara.reactive(1.0)
_sigma2 = solara.reactive(1.0)
_value = solara.reactive(1.0)


@solara.component
def Page():
    PageTitle("Static market")
    with solara.Sidebar():
        with solara.Card("Population", margin=0):
            solara.ToggleButtonsSingle(value=_mode, values=["typed", "drawn"])
            if _mode.value == "typed":
                solara.InputText("loadings beta, separated by commas", value=_typed, continuous_update=False)
            else:
                ControlSlider("innovators", f"innovators, beta uniform on {list(INNOVATOR_BETAS)}", _innovators,
                              0, 50, 1, integer=True)
                ControlSlider("rank-and-file", f"rank-and-file creators, beta uniform on {list(RANK_AND_FILE_BETAS)}",
                              _rank_and_file, 0, 200, 1, integer=True)
                ControlSlider("static-seed", "seed of the draw", _seed, 0, 100, 1, integer=True)
        with solara.Card("Market", margin=0):
            ControlSlider("cost", "effort cost c (cost c e²/2)", _cost, 0.1, 5.0, 0.05)
            ControlSlider("sigma2", "prior variance sigma² of the common factor", _sigma2, 0.05, 10.0, 0.05)
            ControlSlider("static-value", "value v of a unit of precision", _value, 0.1, 5.0, 0.05)
    Help("The static information market: the firm posts per-creator prices, creators best-respond with effort "
         "p / c, and the firm's estimate weighs them by GLS. Original creators (small beta) supply less than is "
         "efficient: at beta = 0 exactly half (the originality penalty).")
    try:
        beta = parse_betas(_typed.value) if _mode.value == "typed" else draw_betas(
            _innovators.value, _rank_and_file.value, _seed.value)
        solution = solve_static(beta, _cost.value, _sigma2.value, _value.value)
    except ValueError as error:
        solara.Error(f"Cannot solve this market: {error}")
        return
    figure_image(lambda: static_figure(solution), [solution], "abm-static")
    with solara.Columns([5, 7]):
        HtmlTable(("outcome", "precision", "firm profit", "creator surplus", "welfare"), totals_rows(solution),
                  "abm-static-totals", f"Totals ({solution.market.n_creators} creators)")
        HtmlTable(("beta", "effort, market", "effort, optimum", "price, market", "penalty ratio"),
                  creator_rows(solution)[:60], "abm-static-creators",
                  "Creators (first 60 by beta)" if solution.market.n_creators > 60 else "Creators")
