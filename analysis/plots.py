"""Plot functions: each takes data (and an ``Axes`` where it draws one panel) and returns the figure.

Every figure has axis labels with units, a title in words, legends in words, and a caption
line under the axes (:func:`caption`) that defines its symbols and says how the agents'
data are drawn. Figures built here use constrained layout, which makes room for the caption;
the widest (the sweep grid) is 13.8 inches, under 1,700 pixels at the jobs' 120 dpi.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import ticker

__all__ = ["new_axes", "caption", "plot_static_efforts", "plot_originality_penalty", "plot_price",
           "plot_precision", "plot_stocks", "plot_entry", "plot_dynamics", "plot_learning_gap",
           "plot_static_regimes", "plot_regimes", "plot_structures", "plot_sweep", "plot_procurement_boxes", "plot_overproduction",
           "plot_convergence", "plot_finite_population", "TIME_LABEL", "PRICE_LABEL"]

TIME_LABEL = "time (model periods)"
PRICE_LABEL = "price per unit of effort"
PRECISION_LABEL = "precision of the firm's model (1 / variance)"
STOCK_LABEL = "data stock (units of effort, net of depreciation)"

#: Words for the outputs and parameters that sweeps and comparisons plot.
WORDS = {
    "precision_final": "final precision (1 / variance)",
    "precision_final_fluid": "final precision, fluid limit",
    "precision_mean": "mean precision over the run",
    "price_final": "final price per unit of effort",
    "price_final_fluid": "final price, fluid limit",
    "price_trap": "price trap p* (per unit of effort)",
    "innovator_participation_final": "share of innovators active at the end",
    "innovator_participation_final_fluid": "share of innovators active, fluid limit",
    "rank_and_file_participation_final": "share of rank-and-file active at the end",
    "trade_surplus_cumulative": "cumulative trade surplus (value units)",
    "welfare_cumulative": "cumulative welfare (value units)",
    "firm_profit_cumulative": "firm's cumulative profit (value units)",
    "welfare_gap_to_optimum": "welfare shortfall vs the intermediary (share)",
    "below_barrier_final": "share of runs ending below the barrier",
    "stock_innovators_final": "innovators' final data stock",
    "stock_rank_and_file_final": "rank-and-file final data stock",
    "rank_and_file.outside_option.exponent": "rank-and-file power-law exponent a (supply elasticity 2a)",
    "rank_and_file.outside_option.elasticity": "rank-and-file supply elasticity (d log N / d log p)",
    "rank_and_file.outside_option.level": "share of rank-and-file active at the reference price",
    "innovators.outside_option.exponent": "innovators' power-law exponent",
    "market.kappa": "recursive bias kappa",
    "market.depreciation": "depreciation rate delta (per period)",
}

SHARES = {"innovator_participation_final", "innovator_participation_final_fluid",
          "rank_and_file_participation_final", "below_barrier_final", "rank_and_file.outside_option.level"}


def words(name: str) -> str:
    """A column or parameter name in words (snake_case as a fallback)."""
    return WORDS.get(name, name.replace("param:", "").replace("_", " ").replace(".", ": "))


def new_axes(n: int = 1, *, width: float = 5.0, height: float = 3.8):
    """A row of ``n`` axes with the project's default size (constrained layout)."""
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), constrained_layout=True)
    return fig, np.atleast_1d(axes)


def caption(fig, text: str, width: int | None = None) -> None:
    """Add a caption line under the axes (appended to any caption already there).

    Uses the figure's ``supxlabel``, which constrained layout makes room for.
    """
    lines = getattr(fig, "_abm_caption", [])
    if text not in lines:
        lines.append(text)
    fig._abm_caption = lines
    inches = fig.get_size_inches()[0]
    width = width or max(60, int(inches * 15))
    wrapped = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.supxlabel(wrapped, x=0.01, ha="left", fontsize=7.5, color="0.25")


def _percent_axis(ax, axis: str = "y") -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(ticker.PercentFormatter(1.0, decimals=None))


def _log_ticks(ax, axis: str = "y") -> None:
    """Readable ticks on a log axis: 1, 2, 5 per decade, plain numbers."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_minor_locator(ticker.LogLocator(base=10, subs=np.arange(1, 10) * 1.0))
    target.set_minor_formatter(ticker.NullFormatter())
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.10g}"))


# --- static market ------------------------------------------------------------------------------


def plot_static_efforts(table: pd.DataFrame, ax):
    """Market and efficient effort per creator against its loading ``beta``."""
    order = table.sort_values("beta")
    ax.plot(order["beta"], order["effort_optimum"], "o-", ms=4, label="efficient effort (planner)")
    ax.plot(order["beta"], order["effort_market"], "s-", ms=4, label="market effort (monopsonist firm)")
    ax.set_xlabel(r"creator's loading on the common factor, $\beta_i$")
    ax.set_ylabel("effort (units of effort per creator)")
    ax.set_title("Effort by originality")
    ax.legend(fontsize=8)
    caption(ax.figure, r"$\beta_i$: how much creator i's signal loads on the common factor (0 = fully original, "
                       "an innovator). Efficient effort maximises welfare; market effort is the creators' best "
                       "response to the firm's Stackelberg prices.")
    return ax.figure


def plot_originality_penalty(table: pd.DataFrame, ax):
    """Ratio ``e^M / e^S`` against ``beta`` with the reference levels 1/2 and 2^(-1/3) (Prop. 4)."""
    order = table.sort_values("beta")
    ax.plot(order["beta"], order["penalty_ratio"], "o-", ms=4, color="C3", label="market / efficient effort")
    ax.axhline(0.5, ls="--", color="grey", lw=1, label="1/2: an innovator (beta = 0)")
    ax.axhline(2 ** (-1 / 3), ls=":", color="grey", lw=1, label=r"$2^{-1/3}$: many identical creators")
    ax.set_xlabel(r"creator's loading on the common factor, $\beta_i$")
    ax.set_ylabel(r"market effort / efficient effort, $e^M_i / e^S_i$")
    ax.set_title("Originality penalty")
    ax.legend(fontsize=8)
    caption(ax.figure, r"$e^M_i$, $e^S_i$: creator i's market and efficient efforts. Ratios below 1 mean the "
                       "market under-buys that creator's data; originals are under-bought most (Prop. 4).")
    return ax.figure


def plot_learning_gap(learning: pd.DataFrame, ax):
    """Per-round gap of the learning firm's efforts to the Stackelberg efforts (log scale)."""
    ax.semilogy(learning["round"], np.maximum(learning["effort_gap"], 1e-17), color="C4",
                label="learning firm's effort gap")
    _log_ticks(ax)
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, numticks=8))
    ax.set_xlabel("round of price adjustment")
    ax.set_ylabel("largest effort gap / largest Stackelberg effort")
    ax.set_title("Learning firm: distance to Stackelberg")
    ax.legend(fontsize=8)
    caption(ax.figure, r"Effort gap: $\max_i |e_i - e^M_i| / \max_i e^M_i$, with $e^M$ the Stackelberg efforts "
                       "the firm would post knowing the market.")
    return ax.figure


def _regime_words(name: str) -> str:
    """A regime's or market structure's name in words (:func:`analysis.comparison.structure_label`)."""
    from analysis.comparison import structure_label

    return structure_label(str(name))


def plot_static_regimes(table: pd.DataFrame):
    """Horizontal bars per regime (one row each, names in words): precision and welfare;
    innovators' and rank-and-file effort relative to the social optimum."""
    fig, axes = new_axes(2, width=6.0, height=0.45 * len(table) + 1.8)
    names = list(table.index)
    positions = np.arange(len(names))
    axes[0].barh(positions - 0.2, table["precision"], 0.4, label="precision (1 / variance)")
    axes[0].barh(positions + 0.2, table["welfare"], 0.4, label="welfare (value units)")
    axes[0].set_title("Precision and welfare by regime")
    axes[0].set_xlabel("precision (1 / variance); welfare (value units)")
    axes[1].barh(positions - 0.2, table["effort_vs_optimum_innovators"], 0.4, label="innovators", color="C2")
    axes[1].barh(positions + 0.2, table["effort_vs_optimum_rank_and_file"], 0.4, label="rank-and-file", color="C1")
    axes[1].axvline(1.0, color="grey", ls="--", lw=1, label="efficient level")
    axes[1].set_title("Mean effort relative to the social optimum")
    axes[1].set_xlabel("mean effort / efficient effort")
    pairs = (("precision", "welfare"), ("effort_vs_optimum_innovators", "effort_vs_optimum_rank_and_file"))
    for ax, columns in zip(axes, pairs):
        for y, values in enumerate(table[list(columns)].to_numpy(float)):
            if np.all(values == 0):
                ax.text(0.01, y, "0 (nothing is bought)", transform=ax.get_yaxis_transform(), va="center",
                        fontsize=7.5, color="0.35")
        ax.set_yticks(positions, [_regime_words(n) for n in names], fontsize=8.5)
        ax.invert_yaxis()
        ax.set_ylabel("market regime")
        ax.legend(fontsize=8)
    caption(fig, "Static market, one equilibrium per regime. Innovators: creators with loading below the regime "
                 "settings' innovator_beta; the dashed line marks efficient effort.")
    return fig


#: Parties of the present-value split, their words and colours (:func:`plot_structures`).
_PARTIES = (("pv_firm", "AI firm(s)", "C0"), ("pv_innovators", "innovators", "C2"),
            ("pv_rank_and_file", "rank-and-file creators", "C1"), ("pv_intermediary", "intermediary or broker", "C4"))


def _missing_marks(ax, table: pd.DataFrame, values) -> None:
    """Say in words why a structure has no bar: refused, not computed, or zero on a log scale."""
    for y, ((_, row), value) in enumerate(zip(table.iterrows(), values)):
        if np.isfinite(value) and value > 0:
            continue
        if str(row["note"]).startswith("refused"):
            text = "refused by this population"
        elif not np.isfinite(value):
            text = "not computed (distributed loadings or costs)"
        else:
            text = "none (0)"
        ax.text(0.02, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=7.5, color="0.35")


def _log_bars(ax, positions, values, color: str) -> None:
    """Horizontal bars on a log axis (non-positive and missing values are left blank)."""
    values = np.asarray(values, dtype=float)
    shown = np.where(values > 0, values, np.nan)
    ax.barh(positions, shown, color=color)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    if np.isfinite(shown).any():
        ax.set_xlim(np.nanmin(shown) / 2, np.nanmax(shown) * 2)
    else:
        ax.set_xticks([])


def plot_structures(table: pd.DataFrame):
    """One row of panels per population, one bar per market structure (names in words):
    precision and the share of innovators selling at the horizon, present-value welfare, and
    each party's share of it (negative shares to the left of 0).

    ``table`` is :func:`analysis.comparison.structure_table` (one population) or several
    concatenated (column ``population``).
    """
    populations = list(dict.fromkeys(table["population"]))
    count = int(table.groupby("population").size().max())
    fig, axes = plt.subplots(len(populations), 4, figsize=(19, (0.36 * count + 1.7) * len(populations)),
                             constrained_layout=True, squeeze=False)
    for row_axes, population in zip(axes, populations):
        part = table[table["population"] == population]
        positions = np.arange(len(part))
        precision = part["precision_final"].to_numpy(float)
        share = part["innovator_participation_final"].to_numpy(float)
        welfare = part["pv_welfare"].to_numpy(float)
        _log_bars(row_axes[0], positions, precision, "C0")
        row_axes[0].set_xlabel("precision at the horizon (1 / variance, log scale)")
        barrier = part["precision_barrier"].dropna()
        if len(barrier):
            row_axes[0].axvline(float(barrier.iloc[0]), color="k", ls=":", lw=1, label="precision barrier")
            row_axes[0].legend(fontsize=7.5, loc="lower right")
        _log_bars(row_axes[1], positions, share, "C2")
        if np.isfinite(np.where(share > 0, share, np.nan)).any():
            row_axes[1].set_xlim(right=1.5)
            row_axes[1].xaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=None))
        row_axes[1].set_xlabel("share of innovators selling at the horizon (log scale)")
        _log_bars(row_axes[2], positions, welfare, "0.3")
        row_axes[2].set_xlabel("present-value welfare (value units, log scale)")
        left, right = np.zeros(len(part)), np.zeros(len(part))
        with np.errstate(invalid="ignore", divide="ignore"):
            for column, label, color in _PARTIES:
                values = part[column].to_numpy(float) / welfare
                values = np.where(np.isfinite(values), values, 0.0)
                base = np.where(values >= 0, right, left)
                row_axes[3].barh(positions, values, left=base, color=color, label=label)
                right, left = np.where(values >= 0, right + values, right), np.where(values < 0, left + values, left)
        row_axes[3].axvline(0.0, color="0.5", lw=0.8)
        row_axes[3].xaxis.set_major_formatter(ticker.PercentFormatter(1.0, decimals=None))
        if not np.isfinite(welfare).any():
            row_axes[3].set_xticks([])
        row_axes[3].set_xlabel("share of present-value welfare")
        row_axes[3].legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="party",
                           title_fontsize=8)
        titles = ("precision", "innovators selling", "present-value welfare", "who gets the welfare")
        for j, (ax, values, title) in enumerate(zip(row_axes, (precision, share, welfare, welfare), titles)):
            ax.set_yticks(positions, [_regime_words(name) for name in part["structure"]] if j == 0 else [],
                          fontsize=8.5)
            ax.set_ylim(len(part) - 0.5, -0.5)
            ax.set_title(f"{words(str(population))}: {title}", fontsize=10)
            _missing_marks(ax, part, values)
        row_axes[0].set_ylabel("market structure")
    caption(fig, "One agent-based run per structure on the same agents (same seed). The regimes have one AI "
                 "firm; the rival rows have two firms buying under strict IP, each posting its own price. With "
                 "rival firms, precision is the firms' mean and the models' service is valued by it (each firm "
                 "serves half of the consumers, docs/welfare.md). Present values: level criterion, discount rate "
                 "of the scenario, steady-state continuation after the horizon.")
    return fig


# --- dynamic market -----------------------------------------------------------------------------


def _replicated(abm: pd.DataFrame) -> bool:
    return "replication" in abm and abm["replication"].nunique() > 1


def _pair(ax, abm: pd.DataFrame, fluid: pd.DataFrame, column: str, label: str, color: str,
          markers: bool = False) -> None:
    """The agents' path (with replications: their mean and the 2.5-97.5% band) and the fluid limit's.

    ``markers`` draws a single run as one dot per round, so a price alternating between two
    values shows as two rows of dots instead of a solid band.
    """
    if _replicated(abm):
        grouped = abm.groupby("time")[column]
        times = np.array(list(grouped.groups))
        ax.fill_between(times, grouped.quantile(0.025).to_numpy(), grouped.quantile(0.975).to_numpy(),
                        color=color, alpha=0.25, lw=0, label=f"{label}, agents: 95% of replications")
        ax.plot(times, grouped.mean().to_numpy(), color=color, lw=1.2, label=f"{label}, agents: mean")
    elif markers:
        ax.plot(abm["time"], abm[column], ".", color=color, ms=1.5, alpha=0.6, label=f"{label}, agents (each round)")
    else:
        ax.plot(abm["time"], abm[column], color=color, lw=1.2, label=f"{label}, agents")
    ax.plot(fluid["time"], fluid[column], color="k" if column == "price" else color, lw=1.0, ls="--",
            label=f"{label}, fluid limit")


def plot_price(abm: pd.DataFrame, fluid: pd.DataFrame, ax, innovator_entry: float | None = None):
    """Posted price against the cap ``p_bar(g_t)`` and the trap ``p*`` (Prop. 5)."""
    _pair(ax, abm, fluid, "price", "price", "C0", markers=True)
    first = abm[abm["replication"] == abm["replication"].min()] if "replication" in abm else abm
    ax.plot(first["time"], first["price_cap"], color="C3", lw=1.0, label=r"price cap $\bar p(g_t)$")
    ax.axhline(fluid["price_trap"].iloc[0], color="C3", ls=":", lw=1.2, label=r"price trap $p^*$")
    if innovator_entry is not None and innovator_entry > 0:
        ax.axhline(innovator_entry, color="C2", ls="-.", lw=1.0, label="lowest innovator entry price")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(PRICE_LABEL)
    ax.set_title("Price, cap and trap")
    ax.legend(fontsize=7)
    return ax.figure


def plot_precision(abm: pd.DataFrame, fluid: pd.DataFrame, ax):
    """Model precision against the barrier ``P_bar`` of Prop. 6."""
    _pair(ax, abm, fluid, "precision", "precision", "C0")
    barrier = fluid["precision_barrier"].iloc[0]
    if np.isfinite(barrier):
        ax.axhline(barrier, color="C3", ls=":", lw=1.2, label=r"precision barrier $\bar P$")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(PRECISION_LABEL)
    ax.set_title("Precision and the barrier")
    ax.legend(fontsize=7)
    return ax.figure


def plot_stocks(abm: pd.DataFrame, fluid: pd.DataFrame, ax):
    """Data stocks of innovators and rank-and-file creators."""
    _pair(ax, abm, fluid, "stock_innovators", "innovators", "C2")
    _pair(ax, abm, fluid, "stock_rank_and_file", "rank-and-file", "C1")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(STOCK_LABEL)
    ax.set_title("Data stocks")
    ax.legend(fontsize=7)
    return ax.figure


def plot_entry(abm: pd.DataFrame, fluid: pd.DataFrame, ax, masses=None):
    """Share of each type's potential creators who are active (entry), on a log axis."""
    masses = masses or (1.0, 1.0)
    scaled_abm, scaled_fluid = abm.copy(), fluid.copy()
    for column, mass in zip(("active_innovators", "active_rank_and_file"), masses):
        scaled_abm[column] = abm[column] / mass
        scaled_fluid[column] = fluid[column] / mass
    _pair(ax, scaled_abm, scaled_fluid, "active_innovators", "innovators", "C2", markers=True)
    _pair(ax, scaled_abm, scaled_fluid, "active_rank_and_file", "rank-and-file", "C1", markers=True)
    values = pd.concat([scaled_abm[["active_innovators", "active_rank_and_file"]].stack(),
                        scaled_fluid[["active_innovators", "active_rank_and_file"]].stack()])
    positive = values[values > 0]
    if len(positive):
        ax.set_yscale("log")
        ax.set_ylim(max(float(positive.min()) / 1.5, 1e-6), min(1.5, float(positive.max()) * 1.5))
        _log_ticks(ax)
        _percent_axis(ax)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("share of the type's creators active")
    ax.set_title("Entry")
    ax.legend(fontsize=7)
    return ax.figure


def plot_dynamics(abm: pd.DataFrame, fluid: pd.DataFrame, scenario=None):
    """The four panels of a run: price, precision, stocks, entry. Returns the figure."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6), constrained_layout=True)
    entry, masses = None, None
    if scenario is not None:
        innovators = scenario.market.innovators
        entry = float(np.sqrt(2 * innovators.cost * innovators.outside_option.ppf(0.0)))
        masses = (innovators.mass, scenario.market.rank_and_file.mass)
        runs = abm["replication"].nunique() if "replication" in abm else 1
        agents = scenario.simulation.agents
        fig.suptitle(f"{scenario.name.replace('_', ' ')}: {agents:,} agents per type"
                     f"{f', {runs} replications' if runs > 1 else ''} (solid or dots) vs the fluid limit (dashed)")
    plot_price(abm, fluid, axes[0, 0], entry if entry else None)
    plot_precision(abm, fluid, axes[0, 1])
    plot_stocks(abm, fluid, axes[1, 0])
    plot_entry(abm, fluid, axes[1, 1], masses)
    band = ("Shaded: 2.5-97.5% range of the replications at each time; solid: their mean. Each replication's "
            "price can alternate between two neighbouring creator entry prices from round to round (the exact best "
            "response to finitely many creators), which is the saw-tooth in the mean. " if _replicated(abm)
            else "Agents' price and entry: one dot per round. With finitely many creators the firm's best price "
                 "is one of their entry prices, and it can alternate between two neighbouring ones from round to "
                 "round (and entry with it), so the dots form two close rows. ")
    caption(fig, band + r"$g_t = m_C/m_O$: the value of rank-and-file data relative to innovators'. "
                        r"$\bar p(g)$: the most a myopic firm pays at $g$ (Prop. 5); $p^*$: its limit as $g \to 0$. "
                        r"$\bar P$: the precision rank-and-file data alone can approach (Prop. 6). "
                        "Fluid limit: the same regime with a continuum of creators, on the agents' round times.")
    return fig


def plot_regimes(over_time: pd.DataFrame, summary: pd.DataFrame):
    """Four panels over time, one line per regime: precision (with the barrier), innovator
    participation, cumulative trade surplus, and cumulative innovator surplus."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.6), layout="constrained")
    for index, (name, run) in enumerate(over_time.groupby("regime", sort=False)):
        color, label = f"C{index}", _regime_words(name)
        dt = float(run["time"].diff().median()) if len(run) > 1 else 1.0
        axes[0, 0].plot(run["time"], run["precision"], color=color, label=label)
        axes[0, 1].plot(run["time"], run["active_innovators"], color=color, label=label)
        axes[1, 0].plot(run["time"], run["trade_surplus"].cumsum() * dt, color=color, label=label)
        axes[1, 1].plot(run["time"], run["surplus_innovators"].cumsum() * dt, color=color, label=label)
    barrier = float(summary["precision_barrier"].iloc[0])
    if np.isfinite(barrier):
        axes[0, 0].axhline(barrier, color="k", ls=":", lw=1, label=r"precision barrier $\bar P$")
    if (over_time["precision"] > 0).all():
        axes[0, 0].set_yscale("log")
        _log_ticks(axes[0, 0])
    else:
        axes[0, 0].set_ylim(bottom=0)
    active = over_time["active_innovators"]
    if (active > 0).any():
        axes[0, 1].set_yscale("log")
        axes[0, 1].set_ylim(max(float(active[active > 0].min()) / 1.5, 1e-6), float(active.max()) * 1.5)
        _log_ticks(axes[0, 1])
    titles = ["Precision", "Active innovators", "Cumulative trade surplus", "Cumulative innovator surplus"]
    ylabels = [PRECISION_LABEL + (" (log scale)" if axes[0, 0].get_yscale() == "log" else ""),
               "active innovators (mass, log scale)" if axes[0, 1].get_yscale() == "log" else "active innovators (mass)",
               "trade surplus (value units)", "innovators' surplus (value units)"]
    for ax, title, ylabel in zip(axes.flat, titles, ylabels):
        ax.set_title(title)
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel(ylabel)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize=8,
               title="market structure", title_fontsize=8.5)
    caption(fig, "One run per regime on the same agents. Trade surplus: value of the data bought minus the "
                 "creators' effort costs and outside options; innovators' surplus: what innovators earn above "
                 r"their outside options. $\bar P$: the barrier of Prop. 6.")
    return fig


# --- sweeps -------------------------------------------------------------------------------------


def plot_sweep(results: pd.DataFrame, parameter: str, outputs):
    """Each output against one swept parameter, in a grid of at most three columns.

    Agents: mean over replications with its 95% confidence band; an output's fluid-limit
    counterpart (``<output>_fluid``), when kept, is drawn dashed on the same panel.
    """
    from scipy import stats

    column = f"param:{parameter}"
    ok = results[results["status"] == "ok"]
    outputs = list(outputs)
    panels = [o for o in outputs if not (o.endswith("_fluid") and o[: -len("_fluid")] in outputs)]
    ncols = min(3, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows + 0.8), constrained_layout=True,
                             squeeze=False)
    grouped = ok.groupby(column)
    x = np.array(list(grouped.groups), dtype=float)
    counts = grouped.size().to_numpy()
    for ax, output in zip(axes.flat, panels):
        mean, sd = grouped[output].mean().to_numpy(), grouped[output].std().fillna(0.0).to_numpy()
        half = np.where(counts > 1, stats.t.ppf(0.975, np.maximum(counts - 1, 1)) * sd / np.sqrt(counts), 0.0)
        ax.plot(x, mean, "o-", ms=3, color="C0", label="agents: mean")
        if (counts > 1).any():
            ax.fill_between(x, mean - half, mean + half, color="C0", alpha=0.25, lw=0, label="agents: 95% CI")
        if f"{output}_fluid" in outputs:
            ax.plot(x, grouped[f"{output}_fluid"].mean().to_numpy(), "k--", lw=1, label="fluid limit")
        ax.set_xlabel(words(parameter), fontsize=8)
        ax.set_ylabel(words(output), fontsize=8)
        ax.set_title(words(output).split(" (")[0].capitalize(), fontsize=9)
        if output in SHARES:
            _percent_axis(ax)
        if parameter in SHARES:
            _percent_axis(ax, "x")
        if len(x) > 1 and x.min() > 0 and x.max() / x.min() > 8:
            ax.set_xscale("log")
            _log_ticks(ax, "x")
            if parameter in SHARES:
                _percent_axis(ax, "x")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5)) if ax.get_xscale() == "linear" else None
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Sweep over {words(parameter)}")
    caption(fig, f"{int(counts.max()) if len(counts) else 0} replications per point. Band: 95% confidence "
                 "interval of the mean over replications (Student t). Price trap p*: the most a myopic firm "
                 "pays once rank-and-file data are worthless (Prop. 5), from the agents' own supply.")
    return fig


# --- procurement --------------------------------------------------------------------------------


def plot_procurement_boxes(per_draw: pd.DataFrame):
    """Box plots of revenue and welfare per mechanism (mean dashed red, median orange)."""
    fig, axes = new_axes(2, width=5.5, height=4.2)
    names = [n for n in per_draw["mechanism"].unique() if n != "M3"]
    labels = {"revenue": "platform revenue per draw (minus payments)",
              "welfare": "social welfare per draw (minus creators' costs)"}
    for ax, column in zip(axes, ("revenue", "welfare")):
        data = [per_draw.loc[per_draw["mechanism"] == n, column].to_numpy() for n in names]
        ax.boxplot(data, showmeans=True, meanline=True, meanprops={"color": "red"},
                   medianprops={"color": "orange"})
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_xlabel("mechanism")
        ax.set_ylabel(labels[column])
        ax.set_title(f"{column.capitalize()} by mechanism")
    caption(fig, "Each box: cost draws of the Table 1 market (procurement paper). M1/M2: revenue-/welfare-"
                 "maximising platform buying from creators; M4: welfare-maximising platform facing a union; "
                 "M5/M6: revenue-/welfare-maximising broker contracts signed before costs are drawn (M3 has only "
                 "bounds). Red dashed: mean; orange: median.")
    return fig


def plot_overproduction(demands: np.ndarray, allocation: np.ndarray, titles=None, note=None):
    """Heat maps of the optimal x_1 and x_2 over the demands (d_1, d_2).

    ``titles`` (one per domain) and ``note`` (the caption) default to those of the
    overproduction market's figure.
    """
    titles = titles or [f"Optimal production in domain {k + 1}" for k in range(2)]
    fig, axes = new_axes(2, width=5.0, height=4.2)
    for k, ax in enumerate(axes):
        image = ax.pcolormesh(demands, demands, allocation[:, :, k].T, shading="auto")
        fig.colorbar(image, ax=ax, label=f"optimal quantity in domain {k + 1}, $x_{k + 1}$ (content units)")
        ax.set_xlabel("demand in domain 1, $d_1$ (content units)")
        ax.set_ylabel("demand in domain 2, $d_2$ (content units)")
        ax.set_title(titles[k])
    caption(fig, note or ("Optimal allocation of the overproduction market (procurement paper) over the two "
                          "domains' demands; GenAI transfer lets content made for one domain serve the other."))
    return fig


# --- validation ---------------------------------------------------------------------------------


def plot_convergence(table: pd.DataFrame, exponents: dict, rounds: dict | None = None):
    """Agents-vs-fluid distance by population with fitted and derived slopes; ODE error by round length."""
    from scipy import stats

    panels = 3 if rounds is not None else 2
    fig, axes = new_axes(panels, width=4.6, height=4.0)
    labels = {"state": "largest gap in precision and stocks", "price": "largest gap in price"}
    for ax, column in zip(axes, ("state", "price")):
        n, y = table["agents"].to_numpy(float), table[column].to_numpy(float)
        fit = stats.linregress(np.log(n), np.log(y))
        ax.loglog(n, y, "o", ms=3, alpha=0.45, color="C0", label="one run")
        means = table.groupby("agents")[column].mean()
        grid = np.geomspace(n.min(), n.max(), 20)
        ax.loglog(grid, np.exp(fit.intercept) * grid**fit.slope, color="C0",
                  label=f"fitted slope {fit.slope:.2f} +- {fit.stderr:.2f}")
        anchor = float(means.iloc[0])
        ax.loglog(grid, anchor * (grid / grid[0]) ** exponents[column], "k--", lw=1,
                  label=f"derived slope {exponents[column]:.2f}")
        ax.set_xticks(means.index.to_numpy(float), [f"{int(v):,}" for v in means.index])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        _log_ticks(ax)
        ax.set_xlabel("agents per creator type, N")
        ax.set_ylabel(f"{labels[column]} (sup over time)")
        ax.set_title(f"Agents vs fluid limit: {column}")
        ax.legend(fontsize=7)
    if rounds is not None:
        ax = axes[2]
        ax.loglog(rounds["steps"], rounds["errors"], "o-", color="C1", label="fluid rounds vs ODE")
        ax.loglog(rounds["steps"], rounds["errors"][0] * rounds["steps"] / rounds["steps"][0], "k--", lw=1,
                  label="derived slope 1 (first order)")
        ax.set_xticks(rounds["steps"], [f"{v:g}" for v in rounds["steps"]])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        _log_ticks(ax)
        ax.set_xlabel("round length dt (model periods)")
        ax.set_ylabel("largest gap in precision and stocks")
        ax.set_title("Rounds vs ODE, by round length")
        ax.legend(fontsize=7)
    caption(fig, "Gap: the largest absolute difference over time between the agents (or the fluid limit in "
                 "rounds) and the reference. Dashed: the rate derived before fitting (docs/validation.md), "
                 "drawn through the first mean (left panels) or the first point (right).")
    return fig


def plot_finite_population(table: pd.DataFrame):
    """Relative bias of the agents against the fluid limit by population, with 95% CIs."""
    quantities = list(dict.fromkeys(table["quantity"]))
    fig, axes = new_axes(len(quantities), width=4.2, height=3.6)
    for ax, quantity in zip(axes, quantities):
        rows = table[table["quantity"] == quantity]
        n = rows["agents"].to_numpy(float)
        mean = rows["relative"].to_numpy()
        ax.errorbar(n, mean, yerr=[mean - rows["low"].to_numpy(), rows["high"].to_numpy() - mean], fmt="o",
                    capsize=4, label="agents - fluid, relative (95% CI)")
        ax.axhline(0.0, color="k", lw=0.8, ls="--", label="no bias")
        ax.set_xscale("log")
        ax.set_xticks(n, [f"{int(v):,}" for v in n])
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlim(n.min() / 2, n.max() * 2)
        _percent_axis(ax)
        ax.set_xlabel("agents per creator type, N")
        ax.set_ylabel("relative difference from the fluid limit")
        ax.set_title(words(quantity).split(",")[0].capitalize(), fontsize=9)
        ax.legend(fontsize=7)
    caption(fig, "Final values of the curse-of-precision run: (agents - fluid limit) / fluid limit per "
                 "replication, mean and 95% confidence interval over replications.")
    return fig
