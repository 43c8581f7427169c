"""Agents against the sliding fluid limit under a fixed entry threshold, compared as bands.

In the ``threshold_entry`` scenario every innovator has the same outside option (a point
mass), so the myopic firm's price (Eq. 12 of the market-design paper) jumps between the
innovators' entry price and a lower price that buys rank-and-file data only. The fluid
limit is the sliding (Filippov) solution of :func:`abm.theory.fluid.solve_fluid`; rounds of
length ``dt`` alternate the two prices and zigzag about it in a band of width ``O(dt)``.
Which price a round posts is a near-tie, so agents and fluid limit are compared as bands
over the second half of the horizon, never path by path.

Finite-population tolerance. With ``sampling = "quantile"`` the agents' outside options are
the ``(j + 1/2) / N`` quantiles of each type's distribution, so their empirical CDF lies
within ``1/(2N)`` of ``G`` at every payoff (the innovators' point mass is reproduced
exactly). The tolerance is how far the round map's band moves when the rank-and-file CDF
is shifted by ``+-1/(2N)``: :func:`brute_force_rounds` computes it, in plain numpy and
independently of the fluid module's price search.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from abm.theory.information import information_sums, precision_fixed_point, recursive_marginal_values
from analysis.validation import Check, _check

__all__ = ["SCENARIO", "brute_force_rounds", "band", "paid_per_unit_effort", "dt_convergence", "threshold_checks"]

#: The shipped scenario these checks run.
SCENARIO = "threshold_entry"
#: Round lengths of the convergence check; each divides the reporting step 0.5.
STEPS = (0.5, 0.25, 0.125, 0.0625)
#: Time between the reported states compared in the convergence check.
EVERY = 0.5


def _price_grid(market, grid_points: int) -> np.ndarray:
    """``[0, v]`` on a uniform grid plus every kink's entry price ``sqrt(2 c u)`` and its float neighbours."""
    entries = np.array([np.sqrt(2.0 * t.cost * kink) for t in market.types for kink in t.outside_option.kinks()])
    return np.unique(np.concatenate([np.linspace(0.0, market.value, grid_points), entries,
                                     np.nextafter(entries, 0.0), np.nextafter(entries, np.inf)]))


def _efforts(market, prices: np.ndarray, rank_and_file_shift: float) -> np.ndarray:
    """Effort supplied by each type at each price, ``M clip(G(p^2/2c) + shift) p / c``; shape (prices, 2)."""
    columns = []
    for creator, shift in zip(market.types, (0.0, rank_and_file_shift)):
        share = np.clip(creator.outside_option.cdf(prices**2 / (2.0 * creator.cost)) + shift, 0.0, 1.0)
        columns.append(creator.mass * share * prices / creator.cost)
    return np.column_stack(columns)


def brute_force_rounds(market, dt: float, n_rounds: int, rank_and_file_shift: float = 0.0,
                       grid_points: int = 20_001) -> pd.DataFrame:
    """The myopic firm's round map by exhaustive search over a price grid.

    Each round the firm posts the grid price with the largest profit rate
    ``sum_k E_k(p) (v m_k - p)`` (Eq. 12) at the marginal values of the current stocks
    (Eq. 11), or nothing if no price is profitable; the stocks then follow the exact
    solution of Eq. 8 over the round. The grid contains every entry threshold exactly, so
    no switching logic is needed. ``rank_and_file_shift`` replaces the rank-and-file CDF by
    ``clip(G + shift, 0, 1)``.

    Returns
    -------
    DataFrame
        Per round: ``time``, ``precision`` and stocks at its start, the ``price`` posted and
        the total ``effort`` bought.
    """
    grid = _price_grid(market, grid_points)
    efforts = _efforts(market, grid, rank_and_file_shift)
    decay = np.exp(-market.depreciation * dt)
    growth = -np.expm1(-market.depreciation * dt) / market.depreciation if market.depreciation > 0 else dt
    stocks, rows = market.initial_stocks.astype(float), []
    for step in range(int(n_rounds)):
        s0, s1, s2 = information_sums(stocks, market.betas)
        current = precision_fixed_point(s0, s1, s2, market.sigma0_sq, market.kappa)
        margins = recursive_marginal_values(s1, s2, current, market.sigma0_sq, market.kappa, market.betas)
        profits = efforts @ (market.value * margins) - grid * efforts.sum(axis=1)
        best = int(np.argmax(profits))
        bought = efforts[best] if profits[best] > 0 else np.zeros(2)
        rows.append((step * dt, current, *stocks, grid[best] if profits[best] > 0 else 0.0, bought.sum()))
        stocks = decay * stocks + growth * bought
    return pd.DataFrame(rows, columns=["time", "precision", "stock_innovators", "stock_rank_and_file", "price",
                                       "effort"])


def band(frame: pd.DataFrame, start: float, column: str = "precision") -> tuple[float, float]:
    """``(min, max)`` of ``column`` over the rows at ``time >= start``."""
    values = frame.loc[frame["time"] >= start, column]
    return float(values.min()), float(values.max())


def paid_per_unit_effort(frame: pd.DataFrame, start: float) -> float:
    """Payments per unit of effort over the rows at ``time >= start``: the effort-weighted mean price.

    Trajectory tables give the effort as ``firm_transfer / price`` (unit payments at one
    uniform price); :func:`brute_force_rounds` tables carry it as ``effort``.
    """
    late = frame[(frame["time"] >= start) & (frame["price"] > 0)]
    effort = late["effort"] if "effort" in late else late["firm_transfer"] / late["price"]
    return float((late["price"] * effort).sum() / effort.sum())


def dt_convergence(market, horizon: float, steps=STEPS) -> dict:
    """Precision of the round map against the sliding solution over ``[T/2, T]``, by round length.

    Returns the ``steps``, the sup gaps, the round map's bands and the sliding solution's
    band over the second half, and the fitted order of the gaps in ``dt``.
    """
    from abm.theory.fluid import solve_fluid

    times = np.arange(horizon / 2, horizon + EVERY / 2, EVERY)
    sliding = solve_fluid(market, horizon, times=times)["precision"].to_numpy()
    gaps, bands = [], []
    for dt in steps:
        rounds = brute_force_rounds(market, dt, int(round(horizon / dt)) + 1)
        at = rounds["precision"].to_numpy()[np.round(times / dt).astype(int)]
        gaps.append(float(np.max(np.abs(at - sliding))))
        bands.append(band(rounds, horizon / 2))
    return {"steps": np.array(steps), "gaps": np.array(gaps), "bands": bands,
            "sliding": (float(sliding.min()), float(sliding.max())),
            "order": float(np.polyfit(np.log(steps), np.log(gaps), 1)[0])}


def _envelope(market, dt: float, n_rounds: int, agents: int, start: float) -> dict:
    """Round maps with the rank-and-file CDF shifted by ``-1/(2N), 0, +1/(2N)``: bands and prices."""
    shifts = np.array([-0.5, 0.0, 0.5]) / agents
    runs = [brute_force_rounds(market, dt, n_rounds, shift) for shift in shifts]
    return {"bands": [band(run, start) for run in runs], "prices": [paid_per_unit_effort(run, start) for run in runs]}


def threshold_checks(out_dir, quick: bool) -> list[Check]:
    """Agents vs the sliding fluid limit on ``threshold_entry``, as bands; writes ``threshold_entry.png``.

    Parameters
    ----------
    out_dir : path
        Where the figure goes (created if missing).
    quick : bool
        2,000 agents per type and three round lengths instead of the scenario's agents and four.
    """
    import matplotlib.pyplot as plt

    from abm.scenario import resolve_scenario
    from abm.simulation.run import simulate
    from abm.theory.fluid import MAX_EVALUATIONS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scenario = resolve_scenario(SCENARIO)
    agents = 2000 if quick else scenario.simulation.agents
    run = simulate(scenario, agents=agents, sampling="quantile")
    market, simulation = scenario.market, scenario.simulation
    start = simulation.horizon / 2
    envelope = _envelope(market, simulation.dt, simulation.n_rounds, agents, start)
    convergence = dt_convergence(market, simulation.horizon, STEPS[:3] if quick else STEPS)
    figure = "threshold_entry.png"
    drawn = _figure(run, envelope, convergence, start)
    drawn.savefig(out / figure, dpi=110)
    plt.close(drawn)
    return [_precision_band_check(run, envelope, start, agents, figure),
            _price_check(run, envelope, start, agents, figure),
            _check("sliding solution vs round map, by round length", "first order: gap proportional to dt",
                   f"fitted order {convergence['order']:.3f}; gaps "
                   + ", ".join(f"{g:.3g}" for g in convergence["gaps"]),
                   abs(convergence["order"] - 1.0), 0.2,
                   "pre-asymptotic curvature over the halvings", figure),
            _check("sliding solution's solver work", "solve_fluid finishes well within its evaluation bound",
                   f"{run.fluid.attrs['evaluations']} evaluations, {run.fluid.attrs['seconds']:.1f} s",
                   run.fluid.attrs["evaluations"], MAX_EVALUATIONS, "abm.theory.fluid.MAX_EVALUATIONS")]


def _precision_band_check(run, envelope: dict, start: float, agents: int, figure: str) -> Check:
    """The agents' precision band inside the fluid band (sliding solution and rounds of dt), widened."""
    sliding, rounds = band(run.fluid, start), envelope["bands"][1]
    low, high = min(sliding[0], rounds[0]), max(sliding[1], rounds[1])
    widening = max(rounds[0] - min(b[0] for b in envelope["bands"]), max(b[1] for b in envelope["bands"]) - rounds[1])
    observed = band(run.agents, start)
    return _check("threshold entry: agents' precision band", f"within the fluid band [{low:.4f}, {high:.4f}] "
                  f"(sliding solution and rounds of dt) over t >= {start:g}",
                  f"[{observed[0]:.4f}, {observed[1]:.4f}] with {agents} quantile agents per type",
                  max(low - observed[0], observed[1] - high, 0.0), widening,
                  f"band shift when the rank-and-file CDF moves by 1/(2N) = {0.5 / agents:.2g}", figure)


def _price_check(run, envelope: dict, start: float, agents: int, figure: str) -> Check:
    """The agents' payments per unit of effort against the sliding solution's effort-weighted price."""
    sliding, rounds = paid_per_unit_effort(run.fluid, start), envelope["prices"][1]
    tolerance = abs(rounds - sliding) + max(abs(p - rounds) for p in envelope["prices"])
    observed = paid_per_unit_effort(run.agents, start)
    return _check("threshold entry: effort-weighted price", f"{sliding:.5f} (sliding solution) over t >= {start:g}",
                  f"{observed:.5f} with {agents} quantile agents per type", abs(observed - sliding), tolerance,
                  "rounds of dt vs sliding solution, plus the price shift when the rank-and-file CDF moves by "
                  "1/(2N)", figure)


def _figure(run, envelope: dict, convergence: dict, start: float):
    """Precision and price over time (agents, rounds, sliding solution) and the gap by round length."""
    from analysis.plots import new_axes

    fig, (left, middle, right) = new_axes(3)
    agents, fluid = (frame[frame["time"] >= start] for frame in (run.agents, run.fluid))
    lows, highs = zip(*envelope["bands"])
    left.axhspan(min(lows), max(highs), color="C1", alpha=0.25,
                 label="rounds of dt with the rank-and-file CDF moved by 1/(2N) either way")
    left.plot(agents["time"], agents["precision"], color="C0", lw=0.6, label="agents (zigzag of the rounds)")
    left.plot(fluid["time"], fluid["precision"], color="k", lw=1.6, label="sliding fluid limit")
    left.set_xlabel("time (model time units), second half of the run")
    left.set_ylabel("precision of the firm's model (1 / variance)")
    left.legend(fontsize=7)
    middle.plot(agents["time"], agents["price"], "o", color="C0", ms=1.5, label="agents' posted price")
    middle.plot(fluid["time"], fluid["price"], color="k", lw=1.0, label="sliding fluid limit (effort-weighted)")
    middle.set_xlabel("time (model time units), second half of the run")
    middle.set_ylabel("price per unit of effort (value units)")
    middle.legend(fontsize=7, loc="center right")
    right.loglog(convergence["steps"], convergence["gaps"], "o-",
                 label=f"largest precision gap, fitted order {convergence['order']:.2f}")
    right.set_xlabel("round length dt (model time units)")
    right.set_ylabel("sup |rounds - sliding solution| (precision)")
    right.legend(fontsize=7)
    return fig
