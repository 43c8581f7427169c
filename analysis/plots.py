"""Plot functions: each takes data and an ``Axes`` and returns the figure it drew on."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


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
