"""The *Procurement* page: one market, one cost draw, every mechanism's outcome.

A market is drawn by the recipe of the paper's Table 1
(:func:`~abm.theory.procurement.sample_table1_market`), one vector of creators' costs from
it (``market.sample_costs``), and every mechanism of
:data:`~abm.theory.procurement.MECHANISMS` that can be played
(:func:`~abm.theory.procurement.mechanism_round`) allocates and pays for it. M3 has no
closed form and is shown through its bounds. Revenue is minus what the platform pays,
welfare minus the creators' total cost (``c . y`` with ``y = x^rho``), as in ``abm
procurement table1``. The solve runs in a background thread, one mechanism at a time, with
progress; changing a setting cancels it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import solara
from matplotlib.figure import Figure

from abm.dashboard.widgets import ControlSlider, Help, HtmlTable, PageTitle, figure_image
from abm.theory.procurement import MECHANISMS, mechanism_round, sample_table1_market

__all__ = ["ProcurementRound", "procurement_round", "procurement_figure", "outcome_rows", "market_rows", "Page"]

#: Who buys and what the platform maximises, in a few words (the registry's own descriptions
#: are longer; the table shows them where it has them).
SHORT_NAMES = {
    "M1": "platform buys, maximises revenue",
    "M2": "platform buys, maximises welfare",
    "M3": "union sells, platform maximises revenue",
    "M4": "union sells, platform maximises welfare",
    "M5": "broker, platform maximises revenue",
    "M6": "broker, platform maximises welfare",
}


def describe(name: str) -> str:
    """The registry's description of a mechanism where it has one, else :data:`SHORT_NAMES`."""
    entry = MECHANISMS[name] if isinstance(MECHANISMS, dict) else None
    return getattr(entry, "description", None) or SHORT_NAMES.get(name, name)


@dataclass(frozen=True, eq=False)
class ProcurementRound:
    """A market, a cost draw and what each playable mechanism does with it.

    ``quantity[name]`` is the content bought per domain (``x``), ``payments[name]`` what each
    domain's creator is paid; ``bounds_only`` lists mechanisms without a closed form.
    """

    market: object
    costs: np.ndarray
    quantity: dict = field(default_factory=dict)
    payments: dict = field(default_factory=dict)
    revenue: dict = field(default_factory=dict)
    welfare: dict = field(default_factory=dict)
    bounds_only: tuple = ()

    @property
    def names(self) -> list[str]:
        return list(MECHANISMS)


def procurement_round(domains: int, market_seed: int, cost_seed: int, progress=None,
                      cancelled: threading.Event | None = None) -> ProcurementRound | None:
    """Draw the market and the costs, and play every mechanism; ``progress(share)`` after each.

    Returns ``None`` if ``cancelled`` is set between mechanisms.
    """
    market = sample_table1_market(market_seed, k=domains)
    costs = market.sample_costs(1, cost_seed)
    result = ProcurementRound(market, costs[0])
    names, bounds = list(MECHANISMS), []
    for index, name in enumerate(names):
        if cancelled is not None and cancelled.is_set():
            return None
        try:
            y, payments = mechanism_round(market, name, costs)
        except ValueError:  # no closed form (M3): bounds only
            bounds.append(name)
        else:
            result.quantity[name] = (y ** (1.0 / market.rho))[0]
            result.payments[name] = payments[0]
            result.revenue[name] = -float(payments.sum())
            result.welfare[name] = -float((costs * y).sum())
        if progress is not None:
            progress((index + 1) / len(names))
    object.__setattr__(result, "bounds_only", tuple(bounds))
    return result


def _bounds(result: ProcurementRound, name: str) -> tuple[str, str]:
    entry = MECHANISMS[name] if isinstance(MECHANISMS, dict) else None
    return getattr(entry, "bounds", None) or ("M5", "M1")


def outcome_rows(result: ProcurementRound) -> list[tuple]:
    """One row per mechanism: quantity and payment per domain, revenue, welfare, description."""
    rows = []
    for name in result.names:
        if name in result.bounds_only:
            low, high = _bounds(result, name)
            revenue = (f"[{result.revenue[low]:.4g}, {result.revenue[high]:.4g}]"
                       if low in result.revenue and high in result.revenue else "n/a")
            welfare = f"<= {result.welfare['M2']:.4g}" if "M2" in result.welfare else "n/a"
            rows.append((name, "no closed form", "bounds only", revenue, welfare, describe(name)))
            continue
        quantity = ", ".join(f"{q:.4g}" for q in result.quantity[name])
        paid = ", ".join(f"{p:.4g}" for p in result.payments[name])
        rows.append((name, quantity, paid, f"{result.revenue[name]:.4g}", f"{result.welfare[name]:.4g}",
                     describe(name)))
    return rows


def market_rows(result: ProcurementRound) -> list[tuple]:
    """One row per domain: demand, cost exponent, cost distribution, the drawn cost, GenAI transfer."""
    market = result.market
    rows = []
    for k in range(market.n_domains):
        distribution = market.costs[k]
        shape = type(distribution).__name__.removesuffix("Cost").replace("TruncatedNormal", "truncated normal")
        transfer = ", ".join(f"to {j + 1}: {market.mu[k, j]:.3g} x^{market.gamma[k, j]:.3g}"
                             for j in range(market.n_domains) if j != k)
        rows.append((f"domain {k + 1}", f"{market.demand[k]:.4g}", f"{market.rho[k]:.4g}",
                     f"{shape.lower()} on [{distribution.low:g}, {distribution.high:g}]", f"{result.costs[k]:.4g}",
                     transfer))
    return rows


def procurement_figure(result: ProcurementRound, width: float = 13.0) -> Figure:
    """Bars by mechanism: content bought per domain, payment per domain, revenue and welfare."""
    names = [n for n in result.names if n not in result.bounds_only]
    k = result.market.n_domains
    fig = Figure(figsize=(width, 0.32 * width), dpi=90)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.2, top=0.9, wspace=0.25)
    axes = fig.subplots(1, 3)
    positions = np.arange(len(names))
    bar = 0.8 / k
    for d in range(k):
        offset = (d - (k - 1) / 2) * bar
        axes[0].bar(positions + offset, [result.quantity[n][d] for n in names], bar, label=f"domain {d + 1}",
                    color=f"C{d}")
        axes[1].bar(positions + offset, [result.payments[n][d] for n in names], bar, label=f"domain {d + 1}",
                    color=f"C{d}")
    axes[0].set_title("Content bought from each domain")
    axes[0].set_ylabel("quantity x (units of content)")
    axes[1].set_title("Payment to each domain's creator")
    axes[1].set_ylabel("payment (money units)")
    axes[2].bar(positions - 0.2, [result.revenue[n] for n in names], 0.4, label="revenue (minus total payments)",
                color="C4")
    axes[2].bar(positions + 0.2, [result.welfare[n] for n in names], 0.4, label="welfare (minus creators' cost)",
                color="C5")
    for name in result.bounds_only:
        low, high = _bounds(result, name)
        if low in result.revenue and high in result.revenue:
            axes[2].axhspan(result.revenue[low], result.revenue[high], color="0.85", zorder=0,
                            label=f"{name} revenue lies in this band")
    axes[2].axhline(0, color="k", lw=0.8)
    low = min([0.0, *result.revenue.values(), *result.welfare.values()])
    axes[2].set_ylim(1.75 * low if low < 0 else -1.0, 0.05 * abs(low) + 1e-9)  # room for the legend below the bars
    axes[2].set_title("Platform revenue and welfare")
    axes[2].set_ylabel("money units")
    for ax, where in zip(axes, ("upper left", "upper left", "lower left")):
        ax.set_xticks(positions, names)
        ax.set_xlabel("mechanism")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc=where)
    return fig


# --- the page ------------------------------------------------------------------------------------------

_domains = solara.reactive(2)
_market_seed = solara.reactive(3)
_cost_seed = solara.reactive(0)
_progress = solara.reactive(0.0)


@solara.component
def Page():
    PageTitle("Procurement")
    settings = (_domains.value, _market_seed.value, _cost_seed.value)

    def solve(cancelled: threading.Event):
        _progress.set(0.0)
        return procurement_round(*settings, progress=_progress.set, cancelled=cancelled)

    result = solara.use_thread(solve, dependencies=list(settings), intrusive_cancel=False)
    with solara.Sidebar():
        with solara.Card("Market and draw", margin=0):
            ControlSlider("domains", "content domains K", _domains, 2, 3, 1, integer=True)
            ControlSlider("market-seed", "seed of the market (Table 1 recipe)", _market_seed, 0, 100, 1, integer=True)
            ControlSlider("cost-seed", "seed of the creators' cost draw", _cost_seed, 0, 100, 1, integer=True)
    Help("A platform procures content across domains with GenAI transfer (x_i units of domain i stand in for "
         "mu x_i^gamma units of another). One market drawn by the recipe of the paper's Table 1, one draw of the "
         "creators' costs, and what every mechanism buys and pays.")
    if result.state in (solara.ResultState.INITIAL, solara.ResultState.STARTING, solara.ResultState.RUNNING,
                        solara.ResultState.WAITING) or result.value is None and result.error is None:
        solara.ProgressLinear(100.0 * _progress.value if _progress.value > 0 else True)
        solara.Text(f"solving the mechanisms… {100 * _progress.value:.0f}%", classes=["abm-progress"])
        return
    if result.error is not None:
        solara.Error(f"Cannot solve this market: {result.error}")
        return
    outcome: ProcurementRound = result.value
    figure_image(lambda: procurement_figure(outcome), [outcome], "abm-procurement")
    HtmlTable(("mechanism", "quantity x per domain", "payment per domain", "revenue", "welfare", "what it is"),
              outcome_rows(outcome), "abm-procurement-outcomes", "Every mechanism on this draw")
    HtmlTable(("domain", "demand d", "cost exponent rho", "cost distribution", "drawn cost c",
               "GenAI transfer to other domains"),
              market_rows(outcome), "abm-procurement-market", "The market and the draw")
