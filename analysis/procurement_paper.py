"""The rest of the procurement paper and the repeated-round experiments (issue 18, parts 2-4).

Each experiment is an ``abm procurement <name>`` subcommand and an ``abm reproduce`` entry:

| name | what |
|---|---|
| ``figure2`` | optimal ``x_1`` (panel a) and ``x_2`` (panel b) over demands, hyperparameters drawn as in the paper's Fig. 2 |
| ``figure3`` | Fig. 3(c, d): optimal ``x_1``, ``x_2`` over demands when ``gamma_12 = 1`` (all ``mu = 0.5``) |
| ``volatility`` | Fig. 8: revenue and welfare of M1 and M2 over the first 100 cost draws |
| ``genai_all`` | Table 2 / Fig. 9 for every mechanism, with and without GenAI |
| ``genai_cost`` | Appendix C.1: M1 and M2 when GenAI costs ``c^G`` per unit of ``y`` |
| ``learning`` | creators learning a shading factor under M2 and pay-as-bid (emergent IC) |
| ``intermediaries`` | a broker that prices and re-estimates, a union whose members can leave |

Every CSV is numeric; bounds (M3) and confidence limits have their own columns.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from abm.storage import write_json
from abm.theory.procurement import (
    MECHANISMS,
    ProcurementMarket,
    UniformCost,
    allocate_batch,
    allocate_near,
    binding_code,
    evaluate_mechanisms,
    mean_and_error,
    mechanism_round,
    myerson_payments,
    sample_table1_market,
    union_payment,
)

__all__ = ["EXPERIMENTS", "demand_maps", "figure2_markets", "figure3_market", "volatility_table",
           "genai_all_table", "genai_cost_table", "intermediaries_table", "run_experiment"]

#: Fig. 2's realised costs (the paper's text): panel (a) and panel (b).
FIGURE2_COSTS = ((0.035, 0.992), (0.989, 0.055))


def _bar(total, description, progress):
    return tqdm(total=total, desc=description, disable=not progress, file=sys.stderr, leave=False)


def demand_maps(build, cost, points: int = 30, progress: bool = False):
    """Optimal ``x`` over demands ``d_1, d_2`` in [1, 20] for markets ``build(d_1, d_2)``,
    weights ``cost`` (M2's; M1's virtual costs of uniform costs are ``2c``, the same
    allocation). Each point warm-starts from the previous one
    (:func:`~abm.theory.procurement.allocate_near`).

    Returns
    -------
    demands : ndarray, shape (points,)
    x : ndarray, shape (points, points, 2)
        ``x[i, j]`` at ``d_1 = demands[i]``, ``d_2 = demands[j]``.
    """
    demands = np.linspace(1.0, 20.0, points)
    weights = np.asarray(cost, dtype=float)[None]
    x = np.empty((points, points, 2))
    # gamma = 0 (Fig. 3(c, d)) overflows allocate_batch's bound (d / mu)^(1 / gamma) to inf,
    # which only means "no bound": the warning is silenced here.
    with _bar(points, "demand grid rows", progress) as bar, np.errstate(over="ignore"):
        for i in range(points):
            for j in range(points):
                market = build(demands[i], demands[j])
                near = x[i, j - 1] if j else (x[i - 1, 0] if i else None)
                if near is None:
                    x[i, j] = allocate_batch(market, weights)[0][0]
                else:
                    x[i, j] = allocate_near(market, weights, near[None], binding_code(market, near[None]))[0][0]
            bar.update()
    return demands, x


def figure2_markets(seed: int = 0):
    """Fig. 2's hyperparameters: ``mu, gamma ~ U[0, 1]``, ``rho ~ U[1, 2]`` (``K = 2``, seed
    ``seed``); costs ``U[0, 1]``. Returns ``build(d_1, d_2)``."""
    rng = np.random.default_rng(seed)
    mu, gamma, rho = rng.uniform(0, 1, (2, 2)), rng.uniform(0, 1, (2, 2)), rng.uniform(1, 2, 2)
    costs = (UniformCost(0.0, 1.0), UniformCost(0.0, 1.0))
    return lambda d1, d2: ProcurementMarket([d1, d2], rho, mu, gamma, costs)


def figure3_market(d1: float, d2: float) -> ProcurementMarket:
    """Fig. 3(c, d): every ``mu = 0.5``, ``gamma_12 = 1``, other ``gamma = 0``, ``rho = 4``."""
    return ProcurementMarket([d1, d2], [4.0, 4.0], np.full((2, 2), 0.5), [[0.0, 1.0], [0.0, 0.0]],
                             (UniformCost(0.0, 1.0), UniformCost(0.0, 1.0)))


def volatility_table(trials: int = 100, seed: int = 0, market_seed: int = 3) -> pd.DataFrame:
    """Fig. 8: revenue and welfare of M1 and M2 for each of the first ``trials`` cost draws of
    the Table 1 market (same seeds as ``abm procurement table1``)."""
    market = sample_table1_market(market_seed)
    costs = market.sample_costs(trials, np.random.default_rng(seed))
    table = pd.DataFrame({"trial": np.arange(1, trials + 1)})
    for name in ("M1", "M2"):
        y, payments = mechanism_round(market, name, costs)
        table[f"revenue_{name}"] = -payments.sum(axis=1)
        table[f"welfare_{name}"] = -(costs * y).sum(axis=1)
    return table


def genai_all_table(trajectories: int = 10, draws: int = 200, seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Table 2 / Fig. 9 for every mechanism: one market per trajectory drawn by the Appendix E
    recipe (same generator use as ``abm procurement genai``), evaluated with and without GenAI.

    Returns
    -------
    pandas.DataFrame
        One row per ``(trajectory, mechanism, genai)``: means over the draws of revenue and
        welfare with bounds in ``revenue_lower``/``revenue_upper``/``welfare_upper`` (M3 has
        only bounds; its point values are ``nan``).
    """
    rng = np.random.default_rng(seed)
    rows = []
    with _bar(trajectories, "genai_all: markets", progress) as bar:
        for trajectory in range(trajectories):
            market = sample_table1_market(rng)
            costs = market.sample_costs(draws, rng)
            for genai, variant in ((True, market), (False, market.without_genai())):
                for name, outcome in evaluate_mechanisms(variant, costs).items():
                    bounded = outcome.revenue_upper is not None
                    lower, welfare = float(outcome.revenue.mean()), float(outcome.welfare.mean())
                    upper = float(outcome.revenue_upper.mean()) if bounded else lower
                    rows.append({"trajectory": trajectory, "mechanism": name, "genai": genai,
                                 "revenue": np.nan if bounded else lower, "revenue_lower": lower,
                                 "revenue_upper": upper, "welfare": np.nan if bounded else welfare,
                                 "welfare_upper": welfare})
            bar.update()
    return pd.DataFrame(rows)


def _shifted(weight_of, shift):
    def weights(cost):
        return weight_of(cost) + shift

    return weights


def genai_cost_table(genai_costs=(0.0, 0.1, 0.25, 0.5, 1.0, 2.0), draws: int = 100, seed: int = 0,
                     market_seed: int = 3, progress: bool = False) -> pd.DataFrame:
    """Appendix C.1: GenAI costs ``c^G`` per unit of ``y_k`` in every domain; the platform
    allocates with weights ``vc(c) + c^G`` (M1) or ``c + c^G`` (M2), pays creators Myerson
    payments of those weights and pays ``c^G . y`` for GenAI.

    Returns
    -------
    pandas.DataFrame
        Per ``(genai_cost, mechanism)``: mean revenue (minus creators' payments and GenAI
        cost) with its standard error, mean welfare (minus human and GenAI cost), mean
        ``x_k`` and the GenAI bill.
    """
    market = sample_table1_market(market_seed)
    costs = market.sample_costs(draws, np.random.default_rng(seed))
    rows = []
    with _bar(len(genai_costs) * 2, "genai_cost", progress) as bar:
        for cg in genai_costs:
            shift = np.full(market.n_domains, float(cg))
            for name, base in (("M1", market.virtual_cost), ("M2", lambda c: c)):
                weight_of = _shifted(base, shift)
                if name == "M2":
                    weight_of.linear_slope = 1.0
                payments = myerson_payments(market, costs, weight_of)
                x = allocate_batch(market, weight_of(costs))[0]
                y = x ** market.rho
                bill = y @ shift
                revenue, revenue_se = mean_and_error(-(payments.sum(axis=1) + bill))
                row = {"genai_cost": float(cg), "mechanism": name, "revenue": revenue, "revenue_se": revenue_se,
                       "welfare": -((costs * y).sum(axis=1) + bill).mean(), "genai_bill": bill.mean()}
                row |= {f"x_{k}": x[:, k].mean() for k in range(market.n_domains)}
                rows.append(row)
                bar.update()
    return pd.DataFrame(rows)


def intermediaries_table(rounds: int = 60, draws_per_round: int = 10, seeds=range(5), penalty: float = 1.5,
                         progress: bool = False) -> pd.DataFrame:
    """The broker and the union over repeated rounds against the paper's one-shot values.

    Broker (M5 and M6; ``broker_penalty = penalty``): per seed, the realised mean profit per
    round and the posted prices of the last round, beside the one-shot values with the known
    distribution (:func:`~abm.theory.procurement.intermediaries.optimal_posted_price`) and
    the paper's (price ``b_k``, profit 0). Union (M4, ``union_exit``): final size and mean
    payments under proportional and equal sharing, beside M4's one-shot ``b . y(b)``.
    """
    from abm.simulation.procurement import ProcurementModel
    from abm.theory.procurement import anchored_allocation
    from abm.theory.procurement.intermediaries import optimal_posted_price, unit_profit

    market = sample_table1_market(3)
    known = np.array([optimal_posted_price(d, penalty * d.high) for d in market.costs])
    known_unit = np.array([float(unit_profit(q, d.cdf(np.array([q]))[0], d.high, penalty * d.high))
                           for q, d in zip(known, market.costs)])
    paper_union_payment = union_payment(market)  # M4's one-shot b . y(b)
    rows = []
    seeds = list(seeds)
    with _bar(len(seeds) * 4, "intermediaries: runs", progress) as bar:
        for seed in seeds:
            for mechanism in ("M5", "M6"):
                model = ProcurementModel(mechanism=mechanism, rounds=rounds, draws_per_round=draws_per_round,
                                         compare=False, broker_penalty=penalty, rng=int(seed))
                table = model.run()
                row = {"agent": "broker", "mechanism": mechanism, "seed": int(seed), "rounds": rounds,
                       "profit": table["broker_profit"].mean(), "profit_late": table["broker_profit"].iloc[rounds // 2:].mean(),
                       "paper_profit": 0.0,
                       "known_profit": float(anchored_allocation(market, model.broker.anchor) @ known_unit),
                       "contract_mean_share": table["broker_contract_mean"].mean()}
                for k in range(market.n_domains):
                    row |= {f"price_{k}": model.broker.prices[k], f"known_price_{k}": known[k],
                            f"paper_price_{k}": market.upper[k]}
                rows.append(row)
                bar.update()
            for sharing in ("proportional", "equal"):
                model = ProcurementModel(mechanism="M4", rounds=min(rounds, 30), draws_per_round=draws_per_round,
                                         compare=False, union_sharing=sharing, union_exit=True, rng=int(seed))
                table = model.run()
                rows.append({"agent": f"union ({sharing} shares)", "mechanism": "M4", "seed": int(seed),
                             "rounds": min(rounds, 30), "union_size": table["union_size"].mean(),
                             "union_final_size": float(len(model.union.members)),
                             "union_payment": table["union_payment"].mean(),
                             "paper_union_payment": paper_union_payment,
                             "revenue": table["revenue"].mean()})
                bar.update()
    return pd.DataFrame(rows)


# --- figures ------------------------------------------------------------------------------------


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_volatility(table):
    from analysis.plots import caption, new_axes

    fig, axes = new_axes(2, width=6.0, height=3.8)
    for ax, measure, words in zip(axes, ("revenue", "welfare"), ("platform revenue", "social welfare")):
        for name, style in (("M1", "-"), ("M2", "--")):
            label = {"M1": "M1 (revenue-maximising)", "M2": "M2 (welfare-maximising)"}[name]
            ax.plot(table["trial"], table[f"{measure}_{name}"], style, lw=1.2, label=label)
        ax.set_xlabel("trial (cost draw)")
        ax.set_ylabel(f"{words} (value units)")
        ax.set_title(f"Volatility of {words}: M1 against M2")
        ax.legend(fontsize=8)
    caption(fig, "Revenue is minus the platform's payments, welfare minus the creators' total cost; "
                 "Table 1 market, first 100 draws.")
    return fig


def _plot_genai_all(table):
    from analysis.plots import caption, new_axes

    fig, axes = new_axes(2, width=6.0, height=4.0)
    names = list(MECHANISMS)
    positions = np.arange(len(names))
    for ax, measure, words in zip(axes, ("revenue", "welfare"), ("platform revenue", "social welfare")):
        for offset, genai, label in ((-0.2, True, "with GenAI"), (0.2, False, "without GenAI (mu = 0)")):
            part = table[table["genai"] == genai].groupby("mechanism", sort=False)
            column = "revenue_lower" if measure == "revenue" else "welfare_upper"
            means = part[column].mean().reindex(names)
            errors = 1.96 * part[column].std(ddof=1).reindex(names) / np.sqrt(part.size().reindex(names))
            ax.bar(positions + offset, means, width=0.4, yerr=errors, capsize=2, label=label)
        ax.set_xticks(positions, names)
        ax.set_xlabel("mechanism (M3: lower revenue bound, welfare upper bound)")
        ax.set_ylabel(f"mean {words} over markets (value units)")
        ax.set_title(f"{words.capitalize()} with and without GenAI")
        ax.legend(fontsize=8)
    caption(fig, "Bars: mean over markets drawn by the Appendix E recipe; whiskers: 95% intervals across markets.")
    return fig


def _plot_genai_cost(table):
    from analysis.plots import caption, new_axes

    fig, axes = new_axes(2, width=5.2, height=3.8)
    for name, group in table.groupby("mechanism"):
        axes[0].errorbar(group["genai_cost"], group["revenue"], yerr=1.96 * group["revenue_se"], marker="o",
                         label=f"{name}")
        axes[1].plot(group["genai_cost"], group["welfare"], marker="o", label=f"{name}")
    for ax, words in zip(axes, ("mean platform revenue (value units)", "mean social welfare (value units)")):
        ax.set_xlabel("GenAI cost per unit of content, $c^G$ (value units)")
        ax.set_ylabel(words)
        ax.legend(fontsize=8)
    axes[0].set_title("Revenue as GenAI gets costly")
    axes[1].set_title("Welfare as GenAI gets costly")
    caption(fig, "Appendix C.1: weights shift from vc(c) (M1) or c (M2) to the same plus c^G; revenue and welfare "
                 "include the GenAI bill.")
    return fig


def _plot_learning(summary):
    from analysis.plots import caption, new_axes

    fig, axes = new_axes(2, width=5.2, height=3.8)
    words = {"PAB": "pay-as-bid", "M1": "M1 (Myerson)", "M2": "M2 (Myerson)"}
    labels = [f"{words.get(m, m)}, domain {d + 1}" for m, d in zip(summary["mechanism"], summary["domain"])]
    positions = np.arange(len(summary))
    for ax, measure, words in ((axes[0], "mean_shading", "learned expected shading factor s"),
                               (axes[1], "truth_gain", "gain over truth-telling (value units)")):
        values = summary[measure].to_numpy(float)
        errors = np.vstack([values - summary[f"{measure}_lower"], summary[f"{measure}_upper"] - values])
        ax.bar(positions, values, yerr=errors, capsize=3, color=["C0" if m != "PAB" else "C3"
                                                                   for m in summary["mechanism"]])
        ax.set_xticks(positions, labels, rotation=20, fontsize=8)
        ax.set_ylabel(words)
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[0].set_title("What creators learn to report")
    axes[1].set_title("What a deviation from truth gains")
    caption(fig, "Hedge over shading factors; bars: mean over seeds, whiskers: 95% t-intervals; "
                 "pay-as-bid is not incentive compatible.")
    return fig


# --- the subcommands ----------------------------------------------------------------------------


def _write(table: pd.DataFrame, out: Path, stem: str, parameters: dict, fig) -> list[Path]:
    paths = [out / f"{stem}.csv", out / f"{stem}.json"]
    table.to_csv(paths[0], index=False)
    write_json(paths[1], parameters | {"table": table.to_dict(orient="records")})
    return paths + [_save(fig, out / f"{stem}.png")]


def run_experiment(name: str, out: Path, seed: int = 0, quick: bool = False, progress: bool = False) -> list[Path]:
    """Run one experiment of :data:`EXPERIMENTS`, print a summary and write CSV, JSON and PNG."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {list(EXPERIMENTS)}, got {name!r}")
    from analysis.plots import plot_overproduction

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if name == "figure2":
        tables, paths = [], []
        for panel, cost in zip("ab", FIGURE2_COSTS):
            demands, x = demand_maps(figure2_markets(seed), cost, 12 if quick else 30, progress)
            tables.append(pd.DataFrame([(panel, *cost, a, b, *x[i, j]) for i, a in enumerate(demands)
                                        for j, b in enumerate(demands)],
                                       columns=["panel", "c1", "c2", "d1", "d2", "x1", "x2"]))
            fig = plot_overproduction(demands, x, (f"Optimal $x_1$, costs c = {cost}", f"Optimal $x_2$, costs c = {cost}"),
                                      f"Fig. 2 ({panel}): mu, gamma ~ U[0, 1], rho ~ U[1, 2] (seed {seed}); "
                                      f"flat regions are overproduction.")
            paths.append(_save(fig, out / f"figure2{panel}.png"))
        table = pd.concat(tables, ignore_index=True)
        table.to_csv(out / "figure2.csv", index=False)
        flat = table[(table.panel == "a") & (table.d2 >= 15)]
        print(f"Fig. 2(a): for d_2 >= 15, x_1 ranges {flat.x1.min():.3f}..{flat.x1.max():.3f} over d_1 in [1, 20]")
        return [out / "figure2.csv"] + paths
    if name == "figure3":
        demands, x = demand_maps(figure3_market, (0.5, 0.5), 12 if quick else 30, progress)
        table = pd.DataFrame([(a, b, *x[i, j]) for i, a in enumerate(demands) for j, b in enumerate(demands)],
                             columns=["d1", "d2", "x1", "x2"])
        low = table[table.d2 <= 5]
        print(f"Fig. 3(d): for d_2 <= 5, x_2 ranges {low.x2.min():.4f}..{low.x2.max():.4f}")
        fig = plot_overproduction(demands, x, ("(c) optimal $x_1$ when $\\gamma_{12} = 1$",
                                               "(d) optimal $x_2$ when $\\gamma_{12} = 1$"),
                                  "Fig. 3(c, d): c = (0.5, 0.5), rho = 4, every mu = 0.5, gamma_12 = 1, other gamma = 0.")
        return _write(table, out, "figure3cd", {"job": "procurement figure3"}, fig)
    if name == "volatility":
        table = volatility_table(100, seed)
        summary = table.drop(columns="trial").agg(["mean", "std"])
        print(summary.to_string(float_format="{:.3f}".format))
        return _write(table, out, "figure8_volatility", {"job": "procurement volatility", "seed": seed,
                                                         "std": summary.loc["std"].to_dict()}, _plot_volatility(table))
    if name == "genai_all":
        table = genai_all_table(3 if quick else 10, 50 if quick else 200, seed, progress)
        means = table.groupby(["mechanism", "genai"])[["revenue_lower", "revenue_upper", "welfare_upper"]].mean()
        print(means.to_string(float_format="{:.2f}".format))
        return _write(table, out, "table2_all_mechanisms", {"job": "procurement genai_all", "seed": seed},
                      _plot_genai_all(table))
    if name == "genai_cost":
        table = genai_cost_table(draws=30 if quick else 100, seed=seed, progress=progress)
        print(table.to_string(index=False, float_format="{:.3f}".format))
        return _write(table, out, "appendix_c1_genai_cost", {"job": "procurement genai_cost", "seed": seed},
                      _plot_genai_cost(table))
    if name == "learning":
        from abm.simulation.procurement.learning import EXPERIMENT_LEARNING_RATE, learning_runs, summarise_runs

        seeds, rounds = (range(2), 30) if quick else (range(5), 200)
        with _bar(2 * len(seeds), "learning: runs", progress) as bar:
            runs = learning_runs(("M2", "PAB"), seeds=seeds, rounds=rounds, progress=bar.update)
        summary = summarise_runs(runs)
        print(summary.to_string(index=False, float_format="{:.4g}".format))
        runs.to_csv(out / "learning_runs.csv", index=False)
        return [out / "learning_runs.csv"] + _write(summary, out, "learning", {
            "job": "procurement learning", "rounds": rounds, "seeds": list(seeds),
            "learning_rate": EXPERIMENT_LEARNING_RATE}, _plot_learning(summary))
    if name == "intermediaries":
        table = intermediaries_table(20 if quick else 60, seeds=range(2) if quick else range(5), progress=progress)
        print(table.groupby("agent").mean(numeric_only=True).T.to_string(float_format="{:.4g}".format))
        return _write(table, out, "intermediaries", {"job": "procurement intermediaries", "penalty": 1.5},
                      _plot_intermediaries(table))
    raise AssertionError(name)


def _plot_intermediaries(table):
    from analysis.plots import caption, new_axes

    fig, axes = new_axes(2, width=5.2, height=3.8)
    broker = table[table.agent == "broker"]
    for (mechanism, group), offset, colour in zip(broker.groupby("mechanism"), (-0.1, 0.1), ("C0", "C1")):
        axes[0].scatter(group["seed"] + offset, group["profit_late"], color=colour,
                        label=f"{mechanism} run: realised, second half of rounds")
        axes[0].axhline(group["known_profit"].iloc[0], ls="--", lw=1, color=colour,
                        label=f"{mechanism} run: one-shot optimum with the true F")
    axes[0].axhline(0.0, color="k", lw=0.8, label="paper (posts b, profit 0)")
    axes[0].set_xlabel("seed")
    axes[0].set_xticks(sorted(table["seed"].unique()))
    axes[0].set_ylabel("broker's mean profit per round (value units)")
    axes[0].set_title("A broker that prices and re-estimates")
    axes[0].legend(fontsize=7)
    union = table[table.agent != "broker"]
    for agent, group in union.groupby("agent"):
        axes[1].scatter(group["seed"], group["union_size"], label=agent)
    axes[1].set_xlabel("seed")
    axes[1].set_xticks(sorted(table["seed"].unique()))
    axes[1].set_ylabel("mean union membership (creators)")
    axes[1].set_title("A union whose members can leave")
    axes[1].legend(fontsize=7)
    caption(fig, "Outside supply at 1.5 b_k per unit; the broker's estimate is the rank predictive distribution "
                 "of the costs reported so far.")
    return fig


#: The experiments of this module, by subcommand name.
EXPERIMENTS = ("figure2", "figure3", "volatility", "genai_all", "genai_cost", "learning", "intermediaries")
