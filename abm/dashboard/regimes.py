"""The *Regimes side by side* page: one population under every market regime.

:func:`analysis.comparison.compare_dynamic` runs the scenario's population (same seed, so
the same agents) under every regime of :data:`abm.regimes.REGIMES`, each beside its fluid
limit. Populations and horizons are small by default (200 agents per type, horizon 50) so a
comparison takes seconds; it runs in a background thread, with the elapsed time shown, and
*Cancel* stops it at once (Solara's intrusive cancellation of the thread).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from scipy.integrate import cumulative_trapezoid

from abm.dashboard.widgets import ControlSlider, Help, HtmlTable, PageTitle, figure_image
from abm.regimes import REGIMES
from abm.scenario import resolve_scenario, scenario_names

__all__ = ["DEFAULT_AGENTS", "DEFAULT_HORIZON", "comparison_scenario", "Comparison", "run_comparison",
           "regimes_figure", "summary_rows", "Page"]

DEFAULT_AGENTS = 200
DEFAULT_HORIZON = 50.0
REGIME_WORDS = {"free_for_all": "free-for-all", "strict_ip": "strict IP", "statutory_license": "statutory licence",
                "collective_pool": "collective pool", "intermediary": "intermediary"}


def regime_words(name: str) -> str:
    return REGIME_WORDS.get(name, name.replace("_", " "))


def comparison_scenario(name: str, agents: int = DEFAULT_AGENTS, horizon: float = DEFAULT_HORIZON, seed: int = 0):
    """The shipped scenario ``name`` with a smaller population and horizon."""
    return resolve_scenario(name).with_simulation(agents=int(agents), horizon=float(horizon), seed=int(seed))


@dataclass(frozen=True, eq=False)
class Comparison:
    """A finished comparison, what it was run with and how long it took."""

    request: int
    label: str
    result: object
    seconds: float


def run_comparison(name: str, agents: int, horizon: float, seed: int, request: int = 0) -> Comparison:
    """:func:`analysis.comparison.compare_dynamic` on :func:`comparison_scenario`, timed."""
    from analysis.comparison import compare_dynamic

    start = time.perf_counter()
    result = compare_dynamic(comparison_scenario(name, agents, horizon, seed))
    label = f"{name}: {int(agents)} agents per type, horizon {float(horizon):g}, seed {int(seed)}"
    return Comparison(request, label, result, time.perf_counter() - start)


def _cumulative(frame: pd.DataFrame, column: str) -> np.ndarray:
    return cumulative_trapezoid(frame[column].to_numpy(), frame["time"].to_numpy(), initial=0.0)


def regimes_figure(comparison, width: float = 13.0) -> Figure:
    """Four panels over time, one colour per regime (agents solid, fluid limit dashed): price,
    precision against the barrier, share of innovators selling, cumulative trade surplus."""
    over_time, fluid = comparison.over_time, comparison.fluid
    mass = comparison.scenario.market.innovators.mass
    fig = Figure(figsize=(width, 0.52 * width), dpi=90)
    fig.subplots_adjust(left=0.06, right=0.8, bottom=0.09, top=0.94, wspace=0.2, hspace=0.3)
    axes = fig.subplots(2, 2, sharex=True)
    for index, name in enumerate(REGIMES):
        colour = f"C{index}"
        agents, theory = over_time[over_time["regime"] == name], fluid[fluid["regime"] == name]
        if agents.empty:
            continue
        for frame, ls, who in ((agents, "-", "agents"), (theory, "--", "fluid limit")):
            label = f"{regime_words(name)}, {who}"
            axes[0, 0].plot(frame["time"], frame["price"], color=colour, ls=ls, lw=1.4, label=label)
            axes[0, 1].plot(frame["time"], frame["precision"], color=colour, ls=ls, lw=1.4)
            axes[1, 0].plot(frame["time"], 100.0 * frame["active_innovators"] / mass, color=colour, ls=ls, lw=1.4)
            axes[1, 1].plot(frame["time"], _cumulative(frame, "trade_surplus"), color=colour, ls=ls, lw=1.4)
    axes[0, 1].set_yscale("log")
    barrier = float(over_time["precision_barrier"].iloc[0])
    if np.isfinite(barrier):
        axes[0, 1].axhline(barrier, color="k", ls=":", lw=1.2, label="precision barrier")
        axes[0, 1].legend(fontsize=8, loc="upper right")
    titles = ("Price paid per unit of effort", "Precision of the firm's model", "Share of innovators selling",
              "Cumulative trade surplus")
    ylabels = ("price (value units per unit of effort)", "precision (1 / variance, log scale)", "innovators selling (%)",
               "trade surplus (value units)")
    for ax, title, ylabel in zip(axes.flat, titles, ylabels):
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("time (model time units)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8.5, title="regime (solid: agents, dashed: fluid)",
               title_fontsize=8.5)
    return fig


#: Columns of :attr:`DynamicComparison.summary` the table shows, with words.
SUMMARY_COLUMNS = (
    ("precision_final", "precision at the end"),
    ("precision_final_fluid", "same, fluid limit"),
    ("innovator_participation_final", "innovators selling at the end"),
    ("price_final", "price at the end"),
    ("trade_surplus_cumulative", "cumulative trade surplus"),
    ("welfare_cumulative", "cumulative welfare"),
    ("firm_profit_cumulative", "cumulative firm profit"),
    ("surplus_innovators_cumulative", "cumulative innovators' surplus"),
    ("surplus_rank_and_file_cumulative", "cumulative rank-and-file surplus"),
    ("intermediary_balance_max_abs", "largest intermediary imbalance"),
)


def summary_rows(comparison) -> list[tuple]:
    """One row per regime with the :data:`SUMMARY_COLUMNS`."""
    summary = comparison.summary
    return [(regime_words(name), *(f"{summary.loc[name, column]:.4g}" for column, _ in SUMMARY_COLUMNS))
            for name in summary.index]


# --- the page ------------------------------------------------------------------------------------------

_scenario = solara.reactive("curse_of_precision")
_agents = solara.reactive(DEFAULT_AGENTS)
_horizon = solara.reactive(DEFAULT_HORIZON)
_seed = solara.reactive(0)
_request = solara.reactive(1)  # 1: run once on the first visit
_latest: solara.Reactive[Comparison | None] = solara.reactive(None)
_started = solara.reactive(0.0)
_elapsed = solara.reactive(0.0)


@solara.component
def Page():
    PageTitle("Regimes side by side")
    request = _request.value
    settings = (_scenario.value, _agents.value, _horizon.value, _seed.value)

    def compute():
        latest = _latest.value
        if latest is not None and latest.request == request:
            return latest  # already done (the page was left and came back)
        _started.set(time.time())
        return run_comparison(*settings, request=request)

    task = solara.use_thread(compute, dependencies=[request], intrusive_cancel=True)
    running = task.state in (solara.ResultState.STARTING, solara.ResultState.RUNNING, solara.ResultState.WAITING)

    def keep():
        """A finished comparison is kept for the session (it outlives a visit to another page)."""
        if task.state == solara.ResultState.FINISHED and task.value is not None and task.value is not _latest.value:
            _latest.set(task.value)

    solara.use_effect(keep, [task.state, task.value])

    def tick(cancel: threading.Event):
        while running and not cancel.is_set():
            if _started.value:
                _elapsed.set(time.time() - _started.value)
            cancel.wait(0.5)

    solara.use_thread(tick, dependencies=[running], intrusive_cancel=False)

    with solara.Sidebar():
        with solara.Card("Population", margin=0):
            solara.Select("scenario", values=scenario_names(), value=_scenario)
            ControlSlider("regimes-agents", "creator agents per type", _agents, 50, 2000, 50, integer=True)
            ControlSlider("regimes-horizon", "horizon (model time units)", _horizon, 10.0, 200.0, 5.0)
            ControlSlider("regimes-seed", "seed of the agents' draws", _seed, 0, 100, 1, integer=True)
            with solara.Row():
                solara.Button("Run every regime", color="primary", on_click=lambda: _request.set(_request.value + 1),
                              disabled=running)
                solara.Button("Cancel", color="error", outlined=True, on_click=task.cancel, disabled=not running)
    Help("The same population (same seed, so the same agents) under every market regime, each beside its fluid "
         "limit. A run takes a few seconds at the default size and grows with the horizon; it can be cancelled.")
    if running:
        solara.ProgressLinear(True)
        solara.Text(f"running {len(REGIMES)} regimes for {settings[0]} ({settings[1]} agents per type, horizon "
                    f"{settings[2]:g})… {_elapsed.value:.0f} s", classes=["abm-progress"])
    elif task.state == solara.ResultState.CANCELLED:
        solara.Warning("Cancelled. Press 'Run every regime' to start again.")
    elif task.state == solara.ResultState.ERROR:
        solara.Error(f"The comparison failed: {task.error}")
    latest = task.value if task.state == solara.ResultState.FINISHED and task.value is not None else _latest.value
    if latest is None:
        return
    stale = (f"{settings[0]}: {int(settings[1])} agents per type, horizon {float(settings[2]):g}, "
             f"seed {int(settings[3])}" != latest.label)
    solara.Text(f"Shown: {latest.label} (ran in {latest.seconds:.1f} s)"
                + ("; the settings have changed since, press 'Run every regime'" if stale and not running else ""),
                classes=["abm-regimes-shown"], style={"display": "block", "font-weight": "bold"})
    figure_image(lambda: regimes_figure(latest.result), [latest], "abm-regimes")
    HtmlTable(("regime", *(words for _, words in SUMMARY_COLUMNS)), summary_rows(latest.result),
              "abm-regimes-summary", "Summary by regime (cumulative figures integrate over the horizon)")
