"""The answer of ``docs/welfare.md``: over the discount rate, who keeps innovators, how
precise the model ends, and what share of the planner's present value each arrangement reaches.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from abm.regimes import REGIMES, RegimeSettings
from abm.theory.fluid import solve_fluid
from abm.theory.planner import control_trajectory, forward_looking_path, solve_planner
from abm.theory.welfare import WelfareSettings, welfare_accounts

__all__ = ["ARRANGEMENTS", "discount_rate_table", "plot_discount_rates"]

#: Rows of the table, in words.
ARRANGEMENTS = {"myopic": "myopic firm (strict IP)", "forward_looking": "forward-looking firm (strict IP)",
                "intermediary": "intermediary at marginal values", "intermediary_shadow": "intermediary at shadow prices",
                "planner": "dynamic planner"}


def discount_rate_table(market, rates=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5), horizon: float = 200.0,
                        dt: float = 0.5, progress: bool = False) -> pd.DataFrame:
    """Fluid limits of each arrangement of :data:`ARRANGEMENTS` at every discount rate.

    Columns: ``discount_rate, arrangement, innovator_share, precision`` (at the horizon),
    ``pv_welfare`` and ``share_of_planner``.
    """
    times = np.arange(int(round(horizon / dt))) * dt
    myopic = solve_fluid(market, horizon, times=times, regime=REGIMES["strict_ip"], settings=RegimeSettings())
    intermediary = solve_fluid(market, horizon, times=times, regime=REGIMES["intermediary"], settings=RegimeSettings())
    steps = rates
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(rates, desc="discount rates", unit="rate")
    rows = []
    for rate in steps:
        settings = WelfareSettings(discount_rate=rate)
        planner = solve_planner(market, settings, horizon, dt)
        shadow = solve_fluid(market, horizon, times=times, regime=REGIMES["intermediary_shadow"],
                             settings=RegimeSettings(shadow_discount_rate=rate))
        paths = {"myopic": myopic, "intermediary": intermediary, "intermediary_shadow": shadow,
                 "forward_looking": forward_looking_path(market, settings, horizon, dt, replan_every=2.0),
                 "planner": control_trajectory(market, planner.times, planner.prices, planner.stocks)}
        for name, path in paths.items():
            rows.append({"discount_rate": rate, "arrangement": ARRANGEMENTS[name],
                         "innovator_share": float(path["active_innovators"].iloc[-1] / market.innovators.mass),
                         "precision": float(path["precision"].iloc[-1]),
                         "pv_welfare": welfare_accounts(path, market, settings, dt).present_value["welfare"]})
    table = pd.DataFrame(rows)
    planner_pv = table[table["arrangement"] == ARRANGEMENTS["planner"]].set_index("discount_rate")["pv_welfare"]
    table["share_of_planner"] = table["pv_welfare"] / table["discount_rate"].map(planner_pv)
    return table


def plot_discount_rates(table: pd.DataFrame):
    """Innovator share at the horizon and share of the planner's welfare against the discount rate."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for name, group in table.groupby("arrangement", sort=False):
        axes[0].semilogx(group["discount_rate"], 100 * group["innovator_share"], "o-", label=name)
        axes[1].semilogx(group["discount_rate"], 100 * group["share_of_planner"], "o-", label=name)
    axes[0].set_ylabel("innovators active at the horizon (% of their mass)")
    axes[0].set_title("Who keeps innovators")
    axes[1].set_ylabel("present-value welfare (% of the planner's)")
    axes[1].set_title("Share of the dynamic planner's welfare")
    rates = sorted(table["discount_rate"].unique())
    for ax in axes:
        ax.set_xlabel("discount rate r (per unit of time)")
        ax.set_xticks(rates, [f"{rate:g}" for rate in rates])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.text(0.01, -0.03, "Fluid limits of the default (curse-of-precision) market in rounds of 0.5; service value v "
             "per unit of precision and time; present values include the terminal value; intermediary at "
             "marginal values: v m_k, at shadow prices: v m_k / (r + delta) (docs/welfare.md).", fontsize=8,
             ha="left", va="top")
    return fig


def welfare_checks(out, quick: bool) -> list:
    """The dynamic planner against its analytic steady state, and as an upper bound of every
    regime's fluid limit (``docs/welfare.md``); the forward-looking firm against the myopic one."""
    from abm.scenario import default_scenario
    from abm.theory.planner import forward_looking_path, planner_bound, planner_steady_state
    from analysis.validation import EMERGENT, THEOREM, _check

    market, checks = default_scenario().market, []
    settings, dt = WelfareSettings(discount_rate=0.05), 1.0
    plan = solve_planner(market, settings, 800.0, dt, intervals=80)
    on_grid = planner_steady_state(market, settings, dt=dt)
    gap = float(np.max(np.abs(plan.prices[400] / on_grid.prices - 1)))
    checks.append(_check("planner's plateau vs its analytic steady state",
                         "t_k = s m_k / (r + delta) (co-state), X_k = I_k(t_k) / delta; on rounds of 1: exact factor",
                         f"largest relative price gap at t = 400 of 800: {gap:.2g}", gap, 1e-6,
                         "the optimiser's tolerance (1e-6 relative)", kind=THEOREM))
    horizon, step = (100.0, 0.5) if quick else (200.0, 0.5)
    times = np.arange(int(round(horizon / step))) * step
    bound = planner_bound(market, settings, horizon, step)
    regimes = {name: welfare_accounts(solve_fluid(market, horizon, times=times, regime=regime,
                                                  settings=RegimeSettings()), market, settings, step)
               .present_value["welfare"] for name, regime in REGIMES.items()}
    best = max(regimes, key=regimes.get)
    checks.append(_check("no regime beats the dynamic planner", "PV welfare of every regime <= the planner's",
                         f"best regime {best}: {regimes[best]:.4g} against the planner's {bound:.4g}",
                         max(0.0, regimes[best] - bound) / bound, 2e-3,
                         "reading a continuously moving regime as rounds of 0.5 (docs/welfare.md): 0.2%",
                         kind=THEOREM))
    myopic = welfare_accounts(solve_fluid(market, horizon, times=times), market, settings, step).present_value["firm"]
    forward = welfare_accounts(forward_looking_path(market, settings, horizon, step, replan_every=2.0), market,
                               settings, step).present_value["firm"]
    checks.append(_check("forward-looking firm vs the myopic firm", "its PV of profit >= the myopic firm's",
                         f"{forward:.4g} against {myopic:.4g} (r = 0.05)", max(0.0, myopic - forward) / myopic, 1e-3,
                         "the myopic price read as rounds: 0.1%", kind=EMERGENT))
    return checks
