"""Figures for the procurement experiments (the rest are in :mod:`analysis.plots`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.plots import caption, new_axes

__all__ = ["plot_genai"]


def plot_genai(table: pd.DataFrame):
    """Bars of M1's mean revenue and welfare per market, with and without GenAI (Table 2).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per market with ``revenue_with_genai``, ``revenue_without_genai``,
        ``welfare_with_genai``, ``welfare_without_genai`` (as written by ``abm procurement genai``).
    """
    fig, axes = new_axes(2, width=5.5)
    positions = np.arange(len(table))
    for ax, measure, words in zip(axes, ("revenue", "welfare"), ("platform revenue", "social welfare")):
        ax.bar(positions - 0.2, table[f"{measure}_with_genai"], width=0.4, label="with GenAI")
        ax.bar(positions + 0.2, table[f"{measure}_without_genai"], width=0.4, label="without GenAI (mu = 0)")
        ax.set_xticks(positions, [str(p + 1) for p in positions])
        ax.set_xlabel("market (drawn by the Appendix E recipe)")
        ax.set_ylabel(f"mean {words} (value units)")
        ax.set_title(f"M1: {words} with and without GenAI")
        ax.legend(fontsize=8)
    caption(fig, "Revenue is minus the platform's payments, welfare minus the creators' total cost; "
                 "each bar averages the market's cost draws.")
    return fig
