"""The *Dynamic market* page: the Mesa model stepped live beside its fluid limit.

The settings (scenario, regime, the sliders) are flat keyword overrides of the scenario
(:func:`model_keywords`), so the page's model is exactly
``DataMarketModel(scenario=NAME, rng=SEED, **overrides)``. A change of any setting starts a
fresh run at round 0 with the new settings; *Reset* starts the same settings again. *Step*
and *Play* advance the run by the render interval (Mesa's SolaraViz convention), *Play*
pausing between renders for the chosen time. The fluid limit of the same settings is
solved once per run, in a background thread, at the agents' round times (every
``stride``-th one, at most :data:`abm.simulation.run.MAX_FLUID_POINTS`, as ``abm run``).

Everything but :func:`Page` is plain Python (figures, rows of the numbers panel), so it is
usable and testable without a browser.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure

from abm.dashboard.widgets import ControlSlider, Help, NumbersTable, PageTitle, figure_image
from abm.regimes import REGIMES
from abm.scenario import keyword_paths, resolve_scenario, scenario_names
from abm.simulation.dynamic_market.model import DataMarketModel
from abm.simulation.run import fluid_limit, fluid_times

__all__ = ["Control", "CONTROLS", "DEFAULT_SCENARIO", "default_settings", "model_keywords", "Run", "Snapshot",
           "dynamics_figure", "outside_options_figure", "number_rows", "Page"]

DEFAULT_SCENARIO = "curse_of_precision"
TYPES = ("innovators", "rank_and_file")
TYPE_WORDS = {"innovators": "innovators", "rank_and_file": "rank-and-file creators"}
TYPE_COLOURS = {"innovators": "C2", "rank_and_file": "C1"}


@dataclass(frozen=True)
class Control:
    """A slider over one scenario field.

    ``key`` names it on the page (settings, CSS class ``abm-control-<key>``); ``keyword`` is
    the field's full :func:`abm.scenario.keyword_paths` keyword (the underscore form, which
    every scenario accepts), ``key`` itself when empty.
    """

    key: str
    label: str
    low: float
    high: float
    step: float
    group: str
    integer: bool = False
    keyword: str = ""

    @property
    def path(self) -> str:
        """The :class:`DataMarketModel` keyword of the field."""
        return self.keyword or self.key


def _supply_controls(kind: str, mass_high: float) -> tuple[Control, ...]:
    group = f"Supply of {TYPE_WORDS[kind]}"
    return (
        Control(f"{kind}_outside_option_exponent", "power-law exponent a (supply elasticity 2a)", 0.1, 6.0, 0.05, group),
        Control(f"{kind}_outside_option_scale", "scale: largest outside option (value per unit time)", 0.01, 2.0,
                0.01, group),
        Control(f"{kind}_mass", "mass M of potential creators", 0.1, mass_high, 0.1, group),
    )


#: The sliders, in the order the sidebar shows them.
CONTROLS = (
    Control("kappa", "recursive bias kappa", 0.0, 1.0, 0.01, "Market", keyword="market_kappa"),
    Control("depreciation", "depreciation delta (per unit time)", 0.0, 0.2, 0.001, "Market",
            keyword="market_depreciation"),
    Control("value", "value v of a unit of precision (per unit time)", 0.1, 5.0, 0.05, "Market",
            keyword="market_value"),
    *_supply_controls("innovators", 20.0),
    *_supply_controls("rank_and_file", 100.0),
    Control("agents", "creator agents per type", 100, 10000, 100, "Population", integer=True,
            keyword="simulation_agents"),
    Control("seed", "seed of the agents' draws", 0, 100, 1, "Population", integer=True, keyword="simulation_seed"),
)


def _scenario_value(scenario, key: str):
    tree = scenario.to_dict()
    for part in keyword_paths(scenario)[key].split("."):
        tree = tree[part]
    return tree


def _power_law(scenario, kind: str) -> bool:
    return getattr(scenario.market, kind).outside_option.__class__.__name__ == "PowerLaw"


def default_settings(name: str = DEFAULT_SCENARIO) -> dict:
    """The page's settings for a shipped scenario: its own regime, seed and field values."""
    scenario = resolve_scenario(name)
    settings = {"scenario": name, "regime": scenario.simulation.regime}
    for control in CONTROLS:
        kind = control.key.split("_outside_option_")[0]
        if "_outside_option_" in control.key and not _power_law(scenario, kind):
            settings[control.key] = None  # not a power law: the slider is disabled
            continue
        settings[control.key] = _scenario_value(scenario, control.path)
    return settings


def model_keywords(settings: dict) -> dict:
    """The keywords of :class:`DataMarketModel` for the page's settings.

    ``DataMarketModel(**model_keywords(settings))`` is the page's model.
    """
    keywords = {"scenario": settings["scenario"], "rng": int(settings["seed"]), "simulation_regime": settings["regime"]}
    for control in CONTROLS:
        value = settings.get(control.key)
        if control.key == "seed" or value is None:
            continue
        keywords[control.path] = int(value) if control.integer else float(value)
    return keywords


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What the page shows of a run after some rounds (immutable; the model moves on).

    ``latest`` is the latest round's row of :data:`~abm.theory.fluid.TRAJECTORY_COLUMNS`
    (empty before the first round); ``precision`` and ``stocks`` the state at the start of
    the next round.
    """

    run_id: int
    round: int
    n_rounds: int
    trajectory: pd.DataFrame
    latest: dict
    precision: float
    stocks: tuple


class Run:
    """One model built from the page's settings, and its fluid limit once solved.

    ``advance`` holds a lock, so the play thread and a click never step it at once.
    """

    _ids = itertools.count(1)

    def __init__(self, settings: dict) -> None:
        self.id = next(self._ids)
        self.settings = dict(settings)
        self.keywords = model_keywords(settings)
        self.model = DataMarketModel(**self.keywords)
        self.lock = threading.Lock()
        self.round_times = np.arange(self.model.n_rounds) * self.model.dt
        self.fluid_frame: pd.DataFrame | None = None
        self.snapshot = self._snapshot()

    @property
    def finished(self) -> bool:
        return self.model.round >= self.model.n_rounds

    def _snapshot(self) -> Snapshot:
        model = self.model
        trajectory = model.trajectory() if model.round else pd.DataFrame()
        return Snapshot(self.id, model.round, model.n_rounds, trajectory, dict(model.latest), float(model.precision),
                        tuple(float(s) for s in model.stocks))

    def advance(self, rounds: int) -> Snapshot:
        """Play up to ``rounds`` rounds (never past the horizon) and return the new snapshot."""
        with self.lock:
            for _ in range(max(0, min(int(rounds), self.model.n_rounds - self.model.round))):
                self.model.step()
            self.snapshot = self._snapshot()
            return self.snapshot

    def solve_fluid(self) -> pd.DataFrame:
        """The fluid limit of the same settings at the agents' round times (every stride-th and the last)."""
        if self.fluid_frame is None:
            times, _ = fluid_times(self.round_times)
            self.fluid_frame = fluid_limit(self.model.scenario, times)
        return self.fluid_frame


# --- figures -----------------------------------------------------------------------------------------


def _share(frame: pd.DataFrame, kind: str, mass: float) -> pd.Series:
    return 100.0 * frame[f"active_{kind}"] / mass


#: Most points a plotted line gets (longer trajectories are thinned evenly, keeping the last round).
PLOT_POINTS = 800


def thinned(frame: pd.DataFrame, points: int = PLOT_POINTS) -> pd.DataFrame:
    """Every ``k``-th row of ``frame`` and its last, at most about ``points`` rows (drawing cost)."""
    if len(frame) <= points:
        return frame
    stride = int(np.ceil(len(frame) / points))
    keep = np.unique(np.append(np.arange(0, len(frame), stride), len(frame) - 1))
    return frame.iloc[keep]


def dynamics_figure(snapshot: Snapshot, fluid: pd.DataFrame | None, scenario, width: float = 9.6) -> Figure:
    """Four panels over time: price against cap and trap, precision against the barrier, entry
    shares by type, data stocks; agents solid, the fluid limit dashed."""
    fig = Figure(figsize=(width, 0.7 * width), dpi=90)
    fig.subplots_adjust(left=0.075, right=0.985, bottom=0.08, top=0.955, wspace=0.22, hspace=0.2)
    axes = fig.subplots(2, 2, sharex=True)
    agents = thinned(snapshot.trajectory)
    horizon = scenario.simulation.horizon
    masses = {kind: getattr(scenario.market, kind).mass for kind in TYPES}
    has = not agents.empty
    ax = axes[0, 0]
    if fluid is not None:
        ax.plot(fluid["time"], fluid["price"], color="C0", ls="--", lw=1.2, label="fluid limit: price")
    if has:
        ax.plot(agents["time"], agents["price"], color="C0", lw=1.6, label="agents: price")
        ax.plot(agents["time"], agents["price_cap"], color="C3", ls=":", lw=1.6, label="price cap")
        ax.plot(agents["time"], agents["price_trap"], color="0.35", ls="-.", lw=1.2, label="price trap")
    ax.set_title("Price against the cap and the trap")
    ax.set_ylabel("price (value units per unit of effort)")
    ax = axes[0, 1]
    if fluid is not None:
        ax.plot(fluid["time"], fluid["precision"], color="C0", ls="--", lw=1.2, label="fluid limit")
        ax.axhline(float(fluid["precision_barrier"].iloc[0]), color="k", ls=":", lw=1.2, label="precision barrier")
    if has:
        ax.plot(agents["time"], agents["precision"], color="C0", lw=1.6, label="agents")
    ax.set_title("Precision of the firm's model against the barrier")
    ax.set_ylabel("precision (1 / variance)")
    for kind in TYPES:
        colour = TYPE_COLOURS[kind]
        if fluid is not None:
            axes[1, 0].plot(fluid["time"], _share(fluid, kind, masses[kind]), color=colour, ls="--", lw=1.2,
                            label=f"{TYPE_WORDS[kind]}, fluid limit")
            axes[1, 1].plot(fluid["time"], fluid[f"stock_{kind}"], color=colour, ls="--", lw=1.2,
                            label=f"{TYPE_WORDS[kind]}, fluid limit")
        if has:
            axes[1, 0].plot(agents["time"], _share(agents, kind, masses[kind]), color=colour, lw=1.6,
                            label=f"{TYPE_WORDS[kind]}, agents")
            axes[1, 1].plot(agents["time"], agents[f"stock_{kind}"], color=colour, lw=1.6,
                            label=f"{TYPE_WORDS[kind]}, agents")
    axes[1, 0].set_title("Entry: share of each type selling")
    axes[1, 0].set_ylabel("share of the type selling (%)")
    axes[1, 1].set_title("Data stocks by type")
    axes[1, 1].set_ylabel("data stock (units of effort)")
    for ax in axes.flat:
        ax.set_xlim(0, horizon)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5, loc="upper right", framealpha=0.85)
    for ax in axes[1]:
        ax.set_xlabel("time (model time units)")
    if not has and fluid is None:
        axes[0, 0].text(0.5, 0.5, "press Step or Play", transform=axes[0, 0].transAxes, ha="center")
    return fig


def outside_options_figure(model: DataMarketModel, snapshot: Snapshot, width: float = 5.6) -> Figure:
    """Histogram of the creators' outside options by type (log scale) with the latest round's
    entry thresholds ``p_k**2 / (2 c_k)``: creators left of their type's line sell."""
    population = model.population
    fig = Figure(figsize=(width, 0.62 * width), dpi=90)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.13, top=0.92)
    ax = fig.subplots()
    options = population.outside_option
    positive = options[options > 0]
    low = max(float(np.quantile(positive, 0.001)), 1e-12) if positive.size else 1e-6
    high = max(float(options.max()), low * 10)
    bins = np.geomspace(low, high, 41)
    for index, kind in enumerate(TYPES):
        mine = options[population.kind == index]
        ax.hist(np.clip(mine, low, high), bins=bins, histtype="step", lw=1.6, color=TYPE_COLOURS[kind],
                label=f"{TYPE_WORDS[kind]} ({mine.size} agents)")
    if snapshot.latest:
        for index, kind in enumerate(TYPES):
            price = float(snapshot.latest[f"price_{kind}"])
            cost = float(population.cost[population.kind == index][0])
            threshold = price**2 / (2 * cost)
            selling = 100.0 * np.mean(population.entry_price[population.kind == index] <= price)
            ax.axvline(max(threshold, low), color=TYPE_COLOURS[kind], ls="--", lw=1.4,
                       label=f"entry threshold p²/2c, {TYPE_WORDS[kind]} ({selling:.1f}% sell)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.5 * ax.get_ylim()[1])  # room for the legend above the bars
    ax.set_xlabel("outside option (value units per unit time, log scale)")
    ax.set_ylabel("creator agents (count)")
    title = f"Outside options and the entry thresholds of round {snapshot.round}" if snapshot.latest \
        else "Outside options (no round played yet)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


#: Rows of the numbers panel: words and the trajectory column (or ``round``).
NUMBER_ROWS = (
    ("rounds played", "round"),
    ("time at its start", "time"),
    ("price, mean over types", "price"),
    ("price to innovators", "price_innovators"),
    ("price to rank-and-file", "price_rank_and_file"),
    ("price cap", "price_cap"),
    ("price trap", "price_trap"),
    ("precision", "precision"),
    ("precision barrier", "precision_barrier"),
    ("active innovators (mass)", "active_innovators"),
    ("active rank-and-file (mass)", "active_rank_and_file"),
    ("innovators' data stock", "stock_innovators"),
    ("rank-and-file data stock", "stock_rank_and_file"),
    ("firm's profit per unit time", "firm_profit"),
    ("welfare per unit time", "welfare"),
)


def format_number(value) -> str:
    """Six significant digits, as the panel shows them."""
    return f"{float(value):.6g}"


def number_rows(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """The numbers panel: ``(words, key, value)`` per row. Before the first round only the
    initial state is known (precision, stocks); the other values are shown as a dash."""
    rows = []
    initial = {"precision": snapshot.precision, "stock_innovators": snapshot.stocks[0],
               "stock_rank_and_file": snapshot.stocks[1]}
    for words, key in NUMBER_ROWS:
        if key == "round":
            value = f"{snapshot.round} of {snapshot.n_rounds}"
        elif snapshot.latest:
            value = format_number(snapshot.latest[key])
        elif key in initial:
            value = format_number(initial[key])
            words = f"{words} (at start)"
        else:
            value = "—"
        rows.append((words, key, value))
    return rows


# --- the page ------------------------------------------------------------------------------------------

_settings = solara.reactive(default_settings())
_run: solara.Reactive[Run | None] = solara.reactive(None)
_snapshot: solara.Reactive[Snapshot | None] = solara.reactive(None)
_error = solara.reactive("")
_play_interval = solara.reactive(100)
_render_interval = solara.reactive(1)


def _start(settings: dict) -> None:
    """Build a run from ``settings`` and show it; on invalid settings keep the old run and say why."""
    try:
        run = Run(settings)
    except ValueError as error:
        _error.set(f"These settings are invalid ({error}); the previous run is kept.")
        return
    _error.set("")
    _run.set(run)
    _snapshot.set(run.snapshot)


def _change(key: str, value) -> None:
    settings = {**_settings.value, key: value}
    if key == "scenario":
        settings = default_settings(value)
    _settings.set(settings)
    _start(settings)


def _current(run: Run) -> Snapshot:
    """The latest snapshot of ``run`` (the reactive one may still belong to the previous run)."""
    snapshot = _snapshot.value
    return snapshot if snapshot is not None and snapshot.run_id == run.id else run.snapshot


@solara.component
def Controls(playing: solara.Reactive[bool], run: Run):
    """Reset / Play / Step, the play interval and the render interval (as Mesa's SolaraViz)."""
    snapshot = _current(run)

    def step():
        _snapshot.set(run.advance(_render_interval.value))

    def reset():
        playing.set(False)
        _start(_settings.value)

    with solara.Card("Controls", margin=0, classes=["abm-controls"]):
        with solara.Row(justify="space-between"):
            solara.Button("Reset", color="primary", on_click=reset)
            solara.Button("Pause" if playing.value else "Play", color="primary",
                          on_click=lambda: playing.set(not playing.value), disabled=run.finished and not playing.value)
            solara.Button("Step", color="primary", on_click=step, disabled=playing.value or run.finished)
        ControlSlider("play-interval", "play speed: pause between renders (ms)", _play_interval, 0, 1000, 10,
                      integer=True)
        ControlSlider("render-interval", "render interval (rounds per Step or render)", _render_interval, 1, 500, 1,
                      integer=True)
        solara.ProgressLinear(value=100.0 * snapshot.round / snapshot.n_rounds, color="primary")
        solara.Text(f"round {snapshot.round} of {snapshot.n_rounds} (t = {snapshot.round * run.model.dt:g} "
                    f"of {run.model.scenario.simulation.horizon:g})", classes=["abm-round"])


@solara.component
def Settings():
    """Scenario and regime pickers and the sliders; any change starts a fresh run."""
    settings = _settings.value
    with solara.Card("Model parameters", margin=0):
        solara.Select("scenario", values=scenario_names(), value=settings["scenario"],
                      on_value=lambda v: _change("scenario", v))
        solara.Select("regime", values=list(REGIMES), value=settings["regime"], on_value=lambda v: _change("regime", v))
        solara.Button("Scenario defaults", text=True, color="primary",
                      on_click=lambda: _change("scenario", settings["scenario"]))
        group = None
        for control in CONTROLS:
            if control.group != group:
                group = control.group
                solara.Text(group, style={"font-weight": "bold", "margin-top": "12px", "display": "block"})
            value = settings.get(control.key)
            label = control.label
            if control.key.endswith("_exponent") and value is not None:
                label = f"{label}; elasticity {2 * value:g}"
            elif value is None:
                label = f"{label} (this scenario's outside options are not a power law)"
            ControlSlider(control.key, label, value, control.low, control.high, control.step,
                          integer=control.integer, on_value=lambda v, key=control.key: _change(key, v),
                          disabled=value is None)


@solara.component
def RunView(run: Run, fluid_frame: pd.DataFrame | None):
    """The figures and the numbers panel; the only part of the page a Step redraws."""
    snapshot = _current(run)
    with solara.Columns([8, 4]):
        with solara.Column():
            figure_image(lambda: dynamics_figure(snapshot, fluid_frame, run.model.scenario),
                         [snapshot, fluid_frame is not None], "abm-dynamics")
            with solara.Columns([7, 5]):
                figure_image(lambda: outside_options_figure(run.model, snapshot), [snapshot], "abm-outside-options")
                Help("Each creator agent sells in a round if its entry price sqrt(2 c w) is at most the price, that "
                     "is if its outside option w is at most p²/2c (dashed lines): a higher price draws in creators "
                     "with better outside options. Where innovators' options are larger (the curse of precision), a "
                     "price near the trap keeps most of them out.")
        with solara.Column():
            NumbersTable(number_rows(snapshot), "Latest round", "abm-numbers")


@solara.component
def Page():
    run = _run.value
    playing = solara.use_reactive(False)
    solara.use_effect(lambda: _start(_settings.value) if _run.value is None else None, [])

    def play(cancel: threading.Event):
        if not playing.value or run is None:
            return
        while playing.value and not cancel.is_set():
            time.sleep(_play_interval.value / 1000)
            if cancel.is_set() or not playing.value:
                return
            _snapshot.set(run.advance(_render_interval.value))
            if run.finished:
                playing.set(False)
                return

    solara.use_thread(play, dependencies=[playing.value, run.id if run else None], intrusive_cancel=False)
    fluid = solara.use_thread(lambda: run.solve_fluid() if run is not None else None,
                              dependencies=[run.id if run else None])

    PageTitle("Dynamic market")
    with solara.Sidebar():
        if run is not None:
            Controls(playing, run)
        Settings()
    if run is None:
        solara.ProgressLinear(True)
        solara.Text("building the population…")
        return
    if _error.value:
        solara.Error(_error.value)
    Help("The Mesa model of the dynamic market, played round by round beside its fluid limit (dashed) for the same "
         "settings. Moving a slider or picking a scenario or regime starts a fresh run; Step and Play advance it by the "
         "render interval.")
    if fluid.state == solara.ResultState.ERROR:
        solara.Error(f"the fluid limit could not be solved: {fluid.error}")
    elif run.fluid_frame is None:
        with solara.Row():
            solara.v.ProgressCircular(indeterminate=True, size=18, width=2, color="primary")
            solara.Text("solving the fluid limit of these settings…")
    RunView(run, run.fluid_frame)
