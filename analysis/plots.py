"""Plot functions: each takes data and an ``Axes`` and returns the figure it drew on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def new_axes(n: int = 1, *, width: float = 5.0, height: float = 3.8):
    """A row of ``n`` axes with the project's default size."""
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), constrained_layout=True)
    return fig, np.atleast_1d(axes)


def plot_static_efforts(table: pd.DataFrame, ax):
    """Market and efficient effort per creator against its loading ``beta``."""
    order = table.sort_values("beta")
    ax.plot(order["beta"], order["effort_optimum"], "o-", label="social optimum $e^S$")
    ax.plot(order["beta"], order["effort_market"], "s-", label="Stackelberg market $e^M$")
    ax.set_xlabel(r"loading on the common factor $\beta_i$")
    ax.set_ylabel("effort")
    ax.set_title("Effort by originality")
    ax.legend()
    return ax.figure


def plot_originality_penalty(table: pd.DataFrame, ax):
    """Ratio ``e^M / e^S`` against ``beta`` with the reference levels 1/2 and 1 (Prop. 4)."""
    order = table.sort_values("beta")
    ax.plot(order["beta"], order["penalty_ratio"], "o-", color="C3")
    ax.axhline(0.5, ls="--", color="grey", lw=1, label="1/2 (an innovator with beta = 0)")
    ax.axhline(2 ** (-1 / 3), ls=":", color="grey", lw=1, label=r"$2^{-1/3}$ (homogeneous limit)")
    ax.set_xlabel(r"loading on the common factor $\beta_i$")
    ax.set_ylabel(r"$e^M_i / e^S_i$")
    ax.set_title("Originality penalty")
    ax.legend()
    return ax.figure


def _pair(ax, abm: pd.DataFrame, fluid: pd.DataFrame, column: str, label: str, color: str) -> None:
    """The agents' path (with replications: their mean and the 2.5-97.5% band) and the fluid limit's."""
    if "replication" in abm and abm["replication"].nunique() > 1:
        grouped = abm.groupby("time")[column]
        times = np.array(list(grouped.groups))
        ax.fill_between(times, grouped.quantile(0.025).to_numpy(), grouped.quantile(0.975).to_numpy(),
                        color=color, alpha=0.25, lw=0, label=f"{label} (agents, 95% of replications)")
        ax.plot(times, grouped.mean().to_numpy(), color=color, lw=1.4, label=f"{label} (agents, mean)")
    else:
        ax.plot(abm["time"], abm[column], color=color, lw=1.4, label=f"{label} (agents)")
    ax.plot(fluid["time"], fluid[column], color=color, lw=1.0, ls="--", label=f"{label} (fluid limit)")


def plot_price(abm: pd.DataFrame, fluid: pd.DataFrame, ax, innovator_entry: float | None = None):
    """Posted price against the cap ``p_bar(g_t)`` and the trap ``p*`` (Prop. 5)."""
    _pair(ax, abm, fluid, "price", "price", "C0")
    first = abm[abm["replication"] == 0] if "replication" in abm else abm
    ax.plot(first["time"], first["price_cap"], color="C3", lw=1.0, label=r"cap $\bar p(g_t)$")
    ax.axhline(abm["price_trap"].iloc[0], color="k", ls=":", lw=1.0, label=r"trap $p^*$")
    if innovator_entry is not None:
        ax.axhline(innovator_entry, color="C2", ls="-.", lw=1.0, label="lowest innovator entry price")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("time")
    ax.set_ylabel("price per unit of effort")
    ax.set_title("Price, cap and trap")
    ax.legend(fontsize=7)
    return ax.figure


def plot_precision(abm: pd.DataFrame, fluid: pd.DataFrame, ax):
    """Model precision against the barrier ``P_bar`` of Prop. 6."""
    _pair(ax, abm, fluid, "precision", "precision", "C0")
    barrier = abm["precision_barrier"].iloc[0]
    if np.isfinite(barrier):
        ax.axhline(barrier, color="C3", ls=":", lw=1.2, label=r"barrier $\bar P$")
    ax.set_xlabel("time")
    ax.set_ylabel("precision")
    ax.set_title("Precision and the barrier")
    ax.legend(fontsize=7)
    return ax.figure


def plot_stocks(abm: pd.DataFrame, fluid: pd.DataFrame, ax):
    """Data stocks of innovators and rank-and-file creators."""
    _pair(ax, abm, fluid, "stock_innovators", "innovators", "C2")
    _pair(ax, abm, fluid, "stock_rank_and_file", "rank-and-file", "C1")
    ax.set_xlabel("time")
    ax.set_ylabel("data stock")
    ax.set_title("Data stocks")
    ax.legend(fontsize=7)
    return ax.figure


def plot_entry(abm: pd.DataFrame, fluid: pd.DataFrame, ax):
    """Active mass of each type (entry)."""
    _pair(ax, abm, fluid, "active_innovators", "innovators", "C2")
    _pair(ax, abm, fluid, "active_rank_and_file", "rank-and-file", "C1")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("time")
    ax.set_ylabel("active mass")
    ax.set_title("Entry")
    ax.legend(fontsize=7)
    return ax.figure


def plot_dynamics(abm: pd.DataFrame, fluid: pd.DataFrame, scenario=None):
    """The four panels of a run: price, precision, stocks, entry. Returns the figure."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    entry = None
    if scenario is not None:
        innovators = scenario.market.innovators
        entry = float(np.sqrt(2 * innovators.cost * innovators.outside_option.ppf(0.0)))
        fig.suptitle(f"{scenario.name}: agents (solid) vs fluid limit (dashed)")
    plot_price(abm, fluid, axes[0, 0], entry if entry else None)
    plot_precision(abm, fluid, axes[0, 1])
    plot_stocks(abm, fluid, axes[1, 0])
    plot_entry(abm, fluid, axes[1, 1])
    return fig


def plot_learning_gap(learning: pd.DataFrame, ax):
    """Per-round gap of the learning firm's efforts to the Stackelberg efforts (log scale)."""
    ax.semilogy(learning["round"], np.maximum(learning["effort_gap"], 1e-17), color="C4")
    ax.set_xlabel("round")
    ax.set_ylabel(r"$\max_i |e_i - e^M_i| / \max_i e^M_i$")
    ax.set_title("Learning firm: gap to Stackelberg")
    return ax.figure


def plot_static_regimes(table: pd.DataFrame):
    """Bars per regime: precision and welfare; innovators' and rank-and-file effort vs optimum."""
    fig, axes = new_axes(2, width=6.0)
    names = list(table.index)
    positions = np.arange(len(names))
    axes[0].bar(positions - 0.2, table["precision"], 0.4, label="precision")
    axes[0].bar(positions + 0.2, table["welfare"], 0.4, label="welfare")
    axes[0].set_title("Precision and welfare by regime")
    axes[1].bar(positions - 0.2, table["effort_vs_optimum_innovators"], 0.4, label="innovators", color="C2")
    axes[1].bar(positions + 0.2, table["effort_vs_optimum_rank_and_file"], 0.4, label="rank-and-file", color="C1")
    axes[1].axhline(1.0, color="grey", ls="--", lw=1)
    axes[1].set_title("Mean effort relative to the social optimum")
    for ax in axes:
        ax.set_xticks(positions, [n.replace("_", "\n") for n in names], fontsize=8)
        ax.legend(fontsize=8)
    return fig


def plot_regimes(over_time: pd.DataFrame, summary: pd.DataFrame):
    """Four panels over time, one line per regime: precision (with the barrier), innovator
    participation, cumulative trade surplus, and cumulative innovator surplus."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for index, (name, run) in enumerate(over_time.groupby("regime", sort=False)):
        color = f"C{index}"
        dt = float(run["time"].diff().median()) if len(run) > 1 else 1.0
        axes[0, 0].plot(run["time"], run["precision"], color=color, label=name)
        axes[0, 1].plot(run["time"], run["active_innovators"], color=color, label=name)
        axes[1, 0].plot(run["time"], run["trade_surplus"].cumsum() * dt, color=color, label=name)
        axes[1, 1].plot(run["time"], run["surplus_innovators"].cumsum() * dt, color=color, label=name)
    barrier = float(summary["precision_barrier"].iloc[0])
    if np.isfinite(barrier):
        axes[0, 0].axhline(barrier, color="k", ls=":", lw=1, label=r"barrier $\bar P$")
    axes[0, 0].set_yscale("log")
    titles = ["Precision", "Active innovators (mass)", "Cumulative trade surplus", "Cumulative innovator surplus"]
    for ax, title in zip(axes.flat, titles):
        ax.set_title(title)
        ax.set_xlabel("time")
        ax.legend(fontsize=7)
    axes[0, 1].set_yscale("symlog", linthresh=1e-3)
    return fig


def plot_sweep(results: pd.DataFrame, parameter: str, outputs):
    """Each output against one swept parameter: mean over replications with +-1 sd band."""
    column = f"param:{parameter}"
    ok = results[results["status"] == "ok"]
    fig, axes = new_axes(len(outputs), width=4.2)
    grouped = ok.groupby(column)
    for ax, output in zip(axes, outputs):
        mean, spread = grouped[output].mean(), grouped[output].std().fillna(0.0)
        x = mean.index.to_numpy(dtype=float)
        ax.plot(x, mean.to_numpy(), "o-", ms=3)
        ax.fill_between(x, (mean - spread).to_numpy(), (mean + spread).to_numpy(), alpha=0.25)
        ax.set_xlabel(parameter)
        ax.set_title(output, fontsize=9)
    return fig


def plot_procurement_boxes(per_draw: pd.DataFrame):
    """Box plots of revenue and welfare per mechanism (mean in red, median in orange)."""
    fig, axes = new_axes(2, width=5.5)
    names = [n for n in per_draw["mechanism"].unique() if n != "M3"]
    for ax, column in zip(axes, ("revenue", "welfare")):
        data = [per_draw.loc[per_draw["mechanism"] == n, column].to_numpy() for n in names]
        ax.boxplot(data, showmeans=True, meanline=True, meanprops={"color": "red"},
                   medianprops={"color": "orange"})
        ax.set_xticks(range(1, len(names) + 1), names)
        ax.set_title(f"{column} per cost draw")
    return fig


def plot_overproduction(demands: np.ndarray, allocation: np.ndarray):
    """Heat maps of the optimal x_1 and x_2 over the demands (d_1, d_2)."""
    fig, axes = new_axes(2, width=5.0)
    for k, ax in enumerate(axes):
        image = ax.pcolormesh(demands, demands, allocation[:, :, k].T, shading="auto")
        fig.colorbar(image, ax=ax)
        ax.set_xlabel("$d_1$")
        ax.set_ylabel("$d_2$")
        ax.set_title(f"optimal $x_{k + 1}$")
    return fig
