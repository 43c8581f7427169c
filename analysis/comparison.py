"""Regimes side by side: one population, every market regime, static and dynamic.

The dynamic comparison runs :func:`abm.simulation.run.simulate` once per market structure
(every regime with one AI firm, and two rival AI firms under each licence; same seed, so the
same agents), summarises each run with :func:`abm.simulation.run.summarise` and values it
in present value (:func:`present_values`; with rival firms :func:`rival_welfare_accounts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from abm.regimes import REGIMES, RegimeSettings
from abm.scenario import Scenario
from abm.simulation.run import simulate, summarise
from abm.theory.planner import planner_bound
from abm.theory.static import InformationMarket, social_optimum
from abm.theory.welfare import outside_option_check, rival_welfare_accounts, welfare_accounts

__all__ = ["compare_static", "compare_dynamic", "DynamicComparison", "format_static_comparison",
           "format_dynamic_comparison", "structures", "structure_label", "refusal", "present_values",
           "rival_welfare_accounts", "structure_table", "RIVAL_FIRMS", "PV_COLUMNS", "STRUCTURE_COLUMNS", "format_structure_table", "behaviour_scenario", "behaviour_rules", "with_behaviour", "compare_behaviours",
           "BEHAVIOUR_TABLE_COLUMNS", "format_behaviour_comparison", "plot_behaviour_regimes"]

def compare_static(market: InformationMarket, settings: RegimeSettings | None = None) -> pd.DataFrame:
    """Every regime's static outcome: one row per regime.

    Columns: precision, welfare, firm profit, creator surplus of innovators
    (``beta < settings.innovator_beta``) and of rank-and-file creators, each group's
    mean effort relative to the social optimum, the intermediary's balance and feasibility.
    """
    settings = settings or RegimeSettings()
    innovators = market.beta < settings.innovator_beta
    efficient = social_optimum(market).effort
    rows = []
    for name, regime in REGIMES.items():
        outcome = regime.static(market, settings)
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = outcome.effort / efficient
        rows.append({
            "regime": name,
            "precision": outcome.precision,
            "welfare": outcome.welfare,
            "firm_profit": outcome.firm_profit,
            "surplus_innovators": float(outcome.creator_surplus[innovators].sum()),
            "surplus_rank_and_file": float(outcome.creator_surplus[~innovators].sum()),
            "effort_vs_optimum_innovators": float(np.nanmean(relative[innovators])) if innovators.any() else np.nan,
            "effort_vs_optimum_rank_and_file": float(np.nanmean(relative[~innovators]))
            if (~innovators).any() else np.nan,
            "intermediary_balance": outcome.intermediary_balance,
            "feasible": outcome.feasible,
        })
    return pd.DataFrame(rows).set_index("regime")


def format_static_comparison(table: pd.DataFrame) -> str:
    """The table and its headline in words, with the numbers."""
    strict, broker = table.loc["strict_ip"], table.loc["intermediary"]
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 160):
        body = table.to_string()
    return "\n".join([
        "Static market under every regime:", body, "",
        f"Strict IP: innovators get {100 * strict.effort_vs_optimum_innovators:.1f}% of their efficient effort, "
        f"rank-and-file creators {100 * strict.effort_vs_optimum_rank_and_file:.1f}% (originality penalty); "
        f"precision {strict.precision:.4f} of an efficient {broker.precision:.4f}.",
        f"Intermediary: efforts at {100 * broker.effort_vs_optimum_innovators:.1f}% / "
        f"{100 * broker.effort_vs_optimum_rank_and_file:.1f}% of efficient, welfare {broker.welfare:.4f} "
        f"(strict IP {strict.welfare:.4f}), budget balance {broker.intermediary_balance:.1e}.",
    ])


@dataclass(frozen=True)
class DynamicComparison:
    """Every regime run on one population.

    Attributes
    ----------
    scenario : Scenario
    over_time : DataFrame
        Long format: the agents' trajectory columns plus ``regime``.
    fluid : DataFrame
        The fluid limit of each regime, long format with ``regime``.
    summary : DataFrame
        One row per regime: end-of-horizon and time-integrated figures.
    """

    scenario: Scenario
    over_time: pd.DataFrame = field(repr=False)
    fluid: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame


#: Rival AI firms in the comparison's rival-firm structures.
RIVAL_FIRMS = 2


def structures(scenario: Scenario) -> dict:
    """Every market structure ``abm compare`` runs on one population, by name.

    Each regime of :data:`~abm.regimes.REGIMES` (one AI firm), then :data:`RIVAL_FIRMS` rival AI firms
    under non-exclusive and under exclusive licences
    (:func:`~abm.simulation.dynamic_market.rivals.rival_scenarios`: strict IP, each firm its
    own price). A scenario that already has rival firms is compared as the population of one
    firm (``simulation.firms = 1``) beside its own rival rows.
    """
    from abm.simulation.dynamic_market.rivals import rival_scenarios

    single = scenario.with_simulation(firms=1) if scenario.simulation.firms > 1 else scenario
    return {**{name: single.with_regime(name) for name in REGIMES}, **rival_scenarios(single, RIVAL_FIRMS)}


def structure_label(name: str) -> str:
    """A structure's name in words (``rival_firms_exclusive`` -> ``2 AI firms, exclusive licences``)."""
    if name.startswith("rival_firms_"):
        return f"{RIVAL_FIRMS} AI firms, " + name.removeprefix("rival_firms_").replace("_", "-") + " licences"
    return {"strict_ip": "strict IP", "statutory_license": "statutory licence",
            "intermediary_shadow": "intermediary at shadow prices"}.get(name, name.replace("_", " "))


def refusal(scenario: Scenario) -> str:
    """Why the model refuses to run ``scenario`` (``""`` if it runs).

    A structure refuses a population by a ``ValueError`` naming the field when its model is
    built or plays its first round (a private broker or creator union prices against each
    type's supply curve, so needs one loading and one cost per type; rival firms need
    best-responding creators of one loading and cost per type). The probe builds the model
    and plays that round; the comparison records the message instead of stopping.
    """
    from abm.simulation.dynamic_market.model import DataMarketModel

    try:
        DataMarketModel(scenario, rng=scenario.simulation.seed).step()
    except ValueError as error:
        return str(error)
    return ""


def compare_dynamic(scenario: Scenario, seed: int | None = None, progress: bool = False) -> DynamicComparison:
    """Run the scenario's population under every market structure (same seed, so the same agents).

    The structures are :func:`structures`: every regime with one AI firm, and
    :data:`RIVAL_FIRMS` rival AI firms under each licence. A structure the model refuses for this population
    (:func:`refusal`) is a row of ``nan`` whose ``note`` is the model's message. Present
    values: :func:`present_values` (with rival firms, :func:`rival_welfare_accounts`).
    """
    if seed is not None:
        scenario = scenario.with_simulation(seed=seed)
    items = list(structures(scenario).items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="market structures", unit="structure")
    runs, fluids, rows = [], [], []
    for name, structure in items:
        reason = refusal(structure)
        if reason:
            rows.append({"regime": name, "note": f"refused: {reason}"})
            continue
        result = simulate(structure)
        runs.append(result.agents.assign(regime=name))
        fluids.append(result.fluid.assign(regime=name))
        rows.append({"regime": name, **summarise(result), **present_values(result), "note": ""})
    summary = pd.DataFrame(rows).set_index("regime")
    summary = summary.reindex(columns=list(dict.fromkeys([*summary.columns, *PV_COLUMNS])))
    planner = planner_welfare(scenario)
    summary["pv_planner"] = planner
    summary["pv_share_of_planner"] = summary["pv_welfare"] / planner if planner else np.nan
    summary["exceeds_planner"] = summary["pv_welfare"] > planner * (1 + 1e-9) + 1e-9
    summary["below_outside_option"] = summary["below_outside_option"].fillna("")
    return DynamicComparison(scenario=scenario, over_time=pd.concat(runs, ignore_index=True),
                             fluid=pd.concat(fluids, ignore_index=True),
                             summary=summary.sort_values("pv_welfare", ascending=False, na_position="last"))


#: Present values of :func:`present_values`: the total and each party's.
PV_COLUMNS = ("pv_welfare", "pv_firm", "pv_innovators", "pv_rank_and_file", "pv_intermediary")


def present_values(result) -> dict:
    """Present-value welfare of a run and each party's share, with every party whose present
    value falls below its outside option (:mod:`abm.theory.welfare`; the agents' rounds).

    With rival AI firms (``simulation.firms > 1``) the accounts are
    :func:`rival_welfare_accounts` and the firms' outside option is ``F`` times one firm's.
    ``nan`` with a note when the accounts need per-type supply curves the market does not
    have (creators with distributed loadings or costs), or every round and the trajectory
    keeps fewer (``simulation.record_every > 1``).
    """
    scenario = result.scenario
    simulation = scenario.simulation
    if not scenario.market.is_homogeneous:
        return {"pv_welfare": np.nan, "below_outside_option": "not computed: distributed loadings or costs"}
    if simulation.record_every > 1:
        return {"pv_welfare": np.nan, "below_outside_option": "not computed: simulation.record_every > 1 "
                                                              "(the accounts need every round)"}
    if simulation.firms > 1:
        accounts = rival_welfare_accounts(result.agents, scenario.market, simulation.firms, scenario.welfare,
                                          simulation.dt)
    else:
        accounts = welfare_accounts(result.agents, scenario.market, scenario.welfare, simulation.dt)
    shortfalls = outside_option_check(accounts, simulation.firms * scenario.regime.firm_outside)
    values = {f"pv_{party}": value for party, value in accounts.present_value.items() if party != "welfare"}
    below = ", ".join(shortfalls.index[shortfalls["below"]])
    return {"pv_welfare": accounts.present_value["welfare"], **values, "below_outside_option": below}


def planner_welfare(scenario: Scenario) -> float:
    """The dynamic planner's present-value welfare on the scenario's round grid: an upper bound
    for every regime (:func:`abm.theory.planner.planner_bound`; ``nan`` for distributed characteristics)."""
    if not scenario.market.is_homogeneous:
        return float("nan")
    simulation = scenario.simulation
    return planner_bound(scenario.market, scenario.welfare, simulation.horizon, simulation.dt,
                         intervals=min(simulation.n_rounds, 200))


def format_dynamic_comparison(comparison: DynamicComparison) -> str:
    """The summary table and its headline in words, with the numbers."""
    table = comparison.summary
    strict, broker = table.loc["strict_ip"], table.loc["intermediary"]
    columns = ["pv_welfare", "pv_share_of_planner", "pv_firm", "pv_innovators", "pv_rank_and_file", "pv_intermediary",
               "precision_final", "precision_final_fluid", "innovator_participation_final",
               "intermediary_balance_max_abs"]
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 220):
        body = table[columns].to_string()
    simulation, welfare = comparison.scenario.simulation, comparison.scenario.welfare
    ranking = " > ".join(table.index[np.isfinite(table["pv_welfare"])]) or "none (no present values)"
    shortfalls = [f"{name} ({row.below_outside_option})" for name, row in table.iterrows() if row.below_outside_option]
    refused = [f"{name} ({row.note})" for name, row in table.iterrows() if str(row.note).startswith("refused")]
    return "\n".join([
        f"scenario {comparison.scenario.name!r} under every regime ({simulation.agents} agents per type, "
        f"horizon {simulation.horizon}, seed {simulation.seed}), ranked by present-value welfare "
        f"(discount rate {welfare.discount_rate:g}, service value {welfare.value(comparison.scenario.market):g} "
        "per unit of precision and time, docs/welfare.md):", body, "",
        f"Ranking: {ranking}; the planner's present value is {table['pv_planner'].iloc[0]:.4g} and no regime exceeds it"
        if not table["exceeds_planner"].any() else "WARNING: a regime exceeds the planner's bound",
        "Parties below their outside option: " + ("; ".join(shortfalls) if shortfalls else "none") + ".",
        "Structures this population refuses: " + ("; ".join(refused) if refused else "none") + ".",
        "(Rival AI firms: precision is the firms' mean, and present values count each firm's model as "
        "serving 1/F of the consumers; docs/welfare.md.)",
        "(The *_cumulative columns of regimes.csv are Eq. 12's flow accounting of the myopic firm, not welfare.)",
        f"Strict IP: precision ends at {strict.precision_final:.4g} against the barrier "
        f"{strict.precision_barrier:.4g}; {100 * strict.innovator_participation_final:.2f}% of innovators still sell "
        "(curse of precision).",
        f"Intermediary: precision ends at {broker.precision_final:.4g}, "
        f"{100 * broker.innovator_participation_final:.2f}% of innovators sell, cumulative trade surplus "
        f"{broker.trade_surplus_cumulative:.4g} (strict IP {strict.trade_surplus_cumulative:.4g}); the largest "
        f"budget imbalance in any round is {broker.intermediary_balance_max_abs:.1e}.",
    ])


#: Columns of :func:`structure_table` (one row per market structure).
STRUCTURE_COLUMNS = ("population", "structure", "label", "precision_final", "precision_barrier",
                     "innovator_participation_final", "pv_welfare", "pv_firm", "pv_innovators", "pv_rank_and_file",
                     "pv_intermediary", "pv_share_of_planner", "precision_final_fluid", "note")


def structure_table(comparison: DynamicComparison) -> pd.DataFrame:
    """The answer of a comparison, one row per market structure in :func:`structures`' order:
    precision and share of innovators selling at the horizon, present-value welfare and its
    split by party, the share of the planner's present value, and why a structure was refused.

    ``label`` is the structure in words (:func:`structure_label`); ``population`` the
    scenario's name, so tables of several populations concatenate.
    """
    summary = comparison.summary
    order = [name for name in structures(comparison.scenario) if name in summary.index]
    table = summary.loc[order].reset_index().rename(columns={"regime": "structure"})
    table["population"] = comparison.scenario.name
    table["label"] = [structure_label(name) for name in table["structure"]]
    return table.reindex(columns=list(STRUCTURE_COLUMNS))


def format_structure_table(table: pd.DataFrame) -> str:
    """The structure table in words: precision, innovators selling (%), present values by party."""
    refused = table["note"].fillna("").astype(str).str.startswith("refused")
    shown = table.assign(innovators_selling_percent=100 * table["innovator_participation_final"],
                         run=np.where(refused, "refused", "ran"))
    columns = {"label": "structure", "run": "run", "precision_final": "precision",
               "innovators_selling_percent": "innovators %", "pv_welfare": "PV welfare", "pv_firm": "firm(s)",
               "pv_innovators": "innovators", "pv_rank_and_file": "rank-and-file", "pv_intermediary": "intermediary"}
    lines = []
    for population, part in shown.groupby("population", sort=False):
        body = part[list(columns)].rename(columns=columns)
        with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
            lines += [f"population {population!r}: market structures at the horizon and in present value",
                      body.to_string(index=False), ""]
    return "\n".join(lines).rstrip()


# --- behaviours x regimes ---------------------------------------------------------------------

#: Columns of :func:`compare_behaviours`'s table (one row per behaviour and regime).
BEHAVIOUR_TABLE_COLUMNS = ("behaviour", "regime", "precision_final", "precision_final_fluid",
                           "innovator_participation_final", "innovator_participation_final_fluid",
                           "price_final", "pv_welfare", "below_barrier_final", "note")


def behaviour_scenario(rule: str) -> str | None:
    """The shipped scenario that shows ``rule`` (``None`` if none does yet).

    ``<rule>`` or ``<rule>_entry`` if shipped (``logit_entry``, ``sunk_entry``,
    ``adaptive_expectations``, ``chosen_originality``), else the first shipped scenario in
    which a type follows ``rule``. ``best_response`` has none (it is every other scenario).
    """
    from abm.scenario import resolve_scenario, scenario_names

    names = scenario_names()
    for name in (rule, f"{rule}_entry"):
        if name in names:
            return name
    for name in names:
        if any(b.rule == rule for b in resolve_scenario(name).behaviours):
            return name
    return None


def behaviour_rules() -> list[tuple[str, str]]:
    """``(rule, shipped scenario)`` for every rule of the registry but best response that a shipped scenario shows."""
    from abm.simulation.dynamic_market.behaviours import BEHAVIOURS

    found = [(rule, behaviour_scenario(rule)) for rule in BEHAVIOURS if rule != "best_response"]
    return [(rule, name) for rule, name in found if name is not None]


def with_behaviour(scenario: Scenario, rule: str) -> Scenario:
    """``scenario`` with the creators' behaviours of ``rule``'s shipped scenario (:func:`behaviour_scenario`):
    each type follows what it follows there, with the same parameters (``logit``, ``sunk_entry``,
    ``adaptive_expectations``: both types; ``chosen_originality``: the rank-and-file creators
    choose their style, innovators best-respond); ``best_response``: both types best-respond.

    Raises
    ------
    ValueError
        For a rule no shipped scenario shows.
    """
    import dataclasses

    from abm.scenario import resolve_scenario
    from abm.theory.behaviour_limits import Behaviour

    if rule == "best_response":
        return dataclasses.replace(scenario, behaviours=(Behaviour(), Behaviour()))
    name = behaviour_scenario(rule)
    if name is None:
        raise ValueError(f"no shipped scenario shows the behaviour {rule!r}: set its parameters by keyword "
                         f"(innovators.behaviour.rule = {rule!r}, ...)")
    return dataclasses.replace(scenario, behaviours=resolve_scenario(name).behaviours)


def compare_behaviours(scenario: Scenario, rules=None, regimes=None, seed: int | None = None,
                       progress: bool = False) -> pd.DataFrame:
    """Every behaviour under every regime on one population (same seed, so the same agents).

    Each rule of ``rules`` (default: every rule with a shipped scenario, and best response)
    is applied to ``scenario`` as its shipped scenario applies it (:func:`with_behaviour`) and run under each
    regime of ``regimes`` (default: :data:`~abm.regimes.REGIMES`) with
    :func:`~abm.simulation.run.simulate`: agents and the behaviour's fluid map under that
    regime. One row per (behaviour, regime): :data:`BEHAVIOUR_TABLE_COLUMNS` at the horizon,
    ``pv_welfare`` the present-value welfare of the agents' run (:func:`present_values`). A pair
    the model refuses (a rule that does not run under a regime) is a row of ``nan`` whose ``note``
    is the model's message.
    """
    if seed is not None:
        scenario = scenario.with_simulation(seed=seed)
    rules = list(rules) if rules is not None else ["best_response", *(rule for rule, _ in behaviour_rules())]
    regimes = list(regimes) if regimes is not None else list(REGIMES)
    pairs = [(rule, regime) for rule in rules for regime in regimes]
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc="behaviours x regimes", unit="run")
    rows = []
    for rule, regime in pairs:
        try:
            result = simulate(with_behaviour(scenario, rule).with_regime(regime))
        except ValueError as error:
            if "simulation.regime" not in str(error):
                raise
            rows.append({"behaviour": rule, "regime": regime, "note": f"refused: {error}"})
            continue
        rows.append({"behaviour": rule, "regime": regime, **summarise(result), **present_values(result), "note": ""})
    return pd.DataFrame(rows).reindex(columns=list(BEHAVIOUR_TABLE_COLUMNS))


def format_behaviour_comparison(table: pd.DataFrame, scenario: Scenario) -> str:
    """The behaviour x regime table: precision, innovator share (%) and PV welfare at the horizon."""
    wide = table.pivot(index="behaviour", columns="regime",
                       values=["precision_final", "innovator_participation_final", "pv_welfare"])
    simulation = scenario.simulation
    lines = [f"scenario {scenario.name!r}: every behaviour under every regime ({simulation.agents} agents per type, "
             f"horizon {simulation.horizon}, seed {simulation.seed}); each behaviour as its shipped "
             "scenario applies it"]
    for value, title, fmt in (("precision_final", "precision at the horizon", "{:.3f}"),
                              ("innovator_participation_final", "share of innovators selling at the horizon (%)",
                               "{:.2f}"),
                              ("pv_welfare", "present-value welfare", "{:.2f}")):
        part = wide[value] * (100.0 if value == "innovator_participation_final" else 1.0)
        with pd.option_context("display.float_format", fmt.format, "display.width", 200):
            lines += ["", title + ":", part.to_string()]
    return "\n".join(lines)


#: Panels of :func:`plot_behaviour_regimes`: column, title, number format, colour scale.
_BEHAVIOUR_PANELS = (("precision_final", "precision of the firm's model at the horizon", "{:.3g}", "log"),
                     ("innovator_participation_final", "share of innovators selling at the horizon (%)", "{:.3g}",
                      "log"),
                     ("pv_welfare", "present-value welfare (colour: log scale when all positive)", "{:.3g}",
                      "linear"))


def plot_behaviour_regimes(table: pd.DataFrame):
    """Three annotated grids, behaviour (rows) by regime (columns): precision, innovator share and
    present-value welfare at the horizon (:func:`compare_behaviours`)."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, Normalize

    behaviours = list(dict.fromkeys(table["behaviour"]))
    regimes = list(dict.fromkeys(table["regime"]))
    fig, axes = plt.subplots(3, 1, figsize=(11, 11), constrained_layout=True)
    for ax, (column, title, fmt, scale) in zip(axes, _BEHAVIOUR_PANELS):
        grid = table.pivot(index="behaviour", columns="regime", values=column).loc[behaviours, regimes]
        values = grid.to_numpy(dtype=float) * (100.0 if column == "innovator_participation_final" else 1.0)
        finite = values[np.isfinite(values)]
        positive = finite[finite > 0]
        logarithmic = scale == "log" or (positive.size == finite.size and positive.size > 0)
        norm = (LogNorm(vmin=max(positive.min(), 1e-3 * positive.max()), vmax=positive.max())
                if logarithmic and positive.size else Normalize(vmin=finite.min(), vmax=finite.max()))
        shown = np.where(values > 0, values, np.nan) if logarithmic else values
        ax.set_facecolor("0.85")  # cells left blank: exactly 0 on a log scale, or a pair the model refuses
        ax.imshow(shown, norm=norm, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            dark = np.isfinite(shown[i, j]) and norm(shown[i, j]) < 0.6
            ax.text(j, i, fmt.format(value) if np.isfinite(value) else "not run", ha="center", va="center",
                    color="white" if dark else "black", fontsize=9)
        ax.set_xticks(range(len(regimes)), [textwrap.fill(name.replace("_", " ").replace(" ip", " IP"), 12)
                                            for name in regimes])
        ax.set_yticks(range(len(behaviours)), [name.replace("_", " ") for name in behaviours])
        ax.set_xlabel("market regime")
        ax.set_ylabel("creator behaviour")
        ax.set_title(title)
    fig.suptitle("What creator behaviours do to the curse of precision, regime by regime (agents)")
    return fig
