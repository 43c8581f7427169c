"""Scenario files: TOML data with a description; every unknown key is an error.

A scenario fixes the dynamic market (:class:`~abm.theory.fluid.DynamicMarket`) and how
to simulate it (:class:`Simulation`). The default :class:`Scenario` is the curse of
precision, the same parameters as ``abm/scenarios/curse_of_precision.toml`` (a test keeps
the two equal), so ``abm run`` works with no file at all. The shipped files live in
:data:`SCENARIO_DIR` and can be named without a path (:func:`resolve_scenario`).

Any field can be overridden by keyword (:func:`apply_overrides`), which is how the Mesa
model takes flat keyword parameters: a dotted path (``"rank_and_file.outside_option.exponent"``),
the same path joined by underscores (``rank_and_file_outside_option_exponent``), or, where
it names one field only, the bare field name (``kappa``, ``agents``, ``horizon``).

Layout of a file::

    name = "..."
    description = "..."
    [market]           value, sigma0_sq, kappa, depreciation
    [innovators]       mass, beta, cost, initial_stock, [innovators.outside_option]
    [rank_and_file]    same keys as [innovators]
    [simulation]       horizon, dt, agents, firm, regime, sampling, seed, firms, licensing,
                       record_every
    [learning]         learning_rate, probe, initial_price   (optional; firm = "learning")
    [regime]           operating_cost, firm_outside, creator_outside, bargaining_power,
                       statutory_rate, pool_share, innovator_beta, shadow_discount_rate,
                       broker_weight, union_weight, union_types   (optional)
    [innovators.behaviour], [rank_and_file.behaviour]
                       rule and its parameters (optional; default rule = "best_response";
                       :mod:`abm.theory.behaviour_limits`, ``docs/behaviours.md``)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from abm.storage import read_toml
from abm.regimes import REGIMES, RegimeSettings
from abm.theory._validation import (
    check_keys, describe, require_at_most, require_positive, require_unit_interval, require_whole,
)
from abm.theory.behaviour_limits import RULE_PARAMETERS, Behaviour, behaviour_from_dict
from abm.theory.fluid import CreatorType, DynamicMarket
from abm.theory.welfare import WelfareSettings
from abm.theory.supply import OutsideOptions, PowerLaw, outside_options_from_dict

__all__ = ["Learning", "Simulation", "Scenario", "load_scenario", "scenario_from_dict", "FIRM_BEHAVIOURS",
           "SAMPLING_METHODS", "default_scenario", "SCENARIO_DIR", "scenario_names", "resolve_scenario",
           "keyword_paths", "apply_overrides"]

#: Where the shipped scenario files live (package data).
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

#: Firm behaviours the agent-based model knows (see ``abm.simulation.dynamic_market.agents``).
FIRM_BEHAVIOURS = ("myopic", "learning", "forward_looking")
#: How agents' outside options are drawn: independently, or as the type's quantiles.
SAMPLING_METHODS = ("random", "quantile")


@dataclass(frozen=True)
class Learning:
    """Settings of the learning firm (Kiefer-Wolfowitz search on observed profit).

    Parameters
    ----------
    learning_rate : float
        Step in log price per unit of the observed profit elasticity, ``> 0``.
    probe : float
        Relative price perturbation of each probe, in ``(0, 1)``.
    initial_price : float
        The first base price, ``> 0``.
    """

    learning_rate: float = 0.02
    probe: float = 0.05
    initial_price: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "learning_rate", require_positive(self.learning_rate, "learning.learning_rate"))
        probe = require_unit_interval(self.probe, "learning.probe")
        if not 0 < probe < 1:
            raise ValueError(f"learning.probe must lie strictly between 0 and 1, got {probe}")
        object.__setattr__(self, "initial_price", require_positive(self.initial_price, "learning.initial_price"))


@dataclass(frozen=True)
class Simulation:
    """How to run the agent-based model.

    Parameters
    ----------
    horizon : float
        Simulated time ``T > 0``.
    dt : float
        Length of a round, ``0 < dt <= T``.
    agents : int
        Number of creator agents of each type (each stands for ``mass / agents``).
    firm : str
        One of :data:`FIRM_BEHAVIOURS` (how the firm prices under strict IP).
    regime : str
        A market regime of :data:`abm.regimes.REGIMES`.
    sampling : str
        One of :data:`SAMPLING_METHODS`.
    seed : int
        Seed of the run's random number generator.
    firms : int
        Number of rival AI firms ``F >= 1`` (``F > 1``: strict IP, myopic or learning firms;
        :mod:`abm.theory.rivals`, ``docs/regimes.md``).
    licensing : str
        One of :data:`abm.theory.rivals.LICENSING`: how creators license to several firms.
    record_every : int
        Record every ``k``-th round in the trajectory (rounds ``0, k, 2k, ...``) and always the
        last, ``k >= 1`` (default 1: every round). The run's cumulative outputs are running
        totals over every round whatever ``k``; only the trajectory table is thinned, so its
        memory is about ``n_recorded`` rows (``docs/model.md``).
    """

    horizon: float = 200.0
    dt: float = 0.05
    agents: int = 5000
    firm: str = "myopic"
    regime: str = "strict_ip"
    sampling: str = "random"
    seed: int = 0
    firms: int = 1
    licensing: str = "non_exclusive"
    record_every: int = 1

    def __post_init__(self) -> None:
        horizon = require_positive(self.horizon, "simulation.horizon")
        dt = require_positive(self.dt, "simulation.dt")
        if dt > horizon:
            raise ValueError(f"simulation.dt must not exceed simulation.horizon, got dt={dt} > {horizon}")
        object.__setattr__(self, "horizon", horizon)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "agents", require_whole(self.agents, "simulation.agents", minimum=1))
        for name, choices in (("firm", FIRM_BEHAVIOURS), ("regime", tuple(REGIMES)), ("sampling", SAMPLING_METHODS)):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in choices:
                raise ValueError(f"simulation.{name} must be one of {list(choices)}, got {getattr(self, name)!r}")
        seed = require_whole(self.seed, "simulation.seed", minimum=0)
        if seed >= 2**63:
            raise ValueError(f"simulation.seed must be < 2**63 (a 63-bit seed, as runs and sweeps draw them), got {seed}")
        object.__setattr__(self, "seed", seed)
        self._check_firms()
        object.__setattr__(self, "record_every", require_whole(self.record_every, "simulation.record_every",
                                                               minimum=1))
        check_memory(self)

    def _check_firms(self) -> None:
        """``firms`` a whole number >= 1, ``licensing`` a known regime; rival firms set their own prices."""
        from abm.theory.rivals import LICENSING

        object.__setattr__(self, "firms", require_whole(self.firms, "simulation.firms", minimum=1))
        if not isinstance(self.licensing, str) or self.licensing not in LICENSING:
            raise ValueError(f"simulation.licensing must be one of {list(LICENSING)}, got {self.licensing!r}")
        if self.firms > 1 and (self.regime != "strict_ip" or self.firm not in ("myopic", "learning")):
            raise ValueError(f"simulation.firms = {self.firms} (rival AI firms) needs simulation.regime = 'strict_ip' "
                             f"and simulation.firm = 'myopic' or 'learning' (each firm sets its own price), got "
                             f"regime {self.regime!r} and firm {self.firm!r}")

    @property
    def n_rounds(self) -> int:
        """Rounds needed to cover the horizon, ``ceil(T / dt)`` up to rounding."""
        return max(1, int(round(self.horizon / self.dt)))

    def is_recorded(self, round_index: int) -> bool:
        """Whether round ``round_index`` (from 0) is a row of the trajectory: every
        ``record_every``-th round and the last."""
        return round_index % self.record_every == 0 or round_index == self.n_rounds - 1

    @property
    def n_recorded(self) -> int:
        """Rows of the trajectory: ``ceil(n_rounds / record_every)``, plus the last round when
        it is not a multiple of ``record_every`` (the rounds :meth:`is_recorded` picks)."""
        rows = -(-self.n_rounds // self.record_every)
        return rows + (0 if (self.n_rounds - 1) % self.record_every == 0 else 1)


#: Memory one creator agent takes at its largest: about 125 bytes measured with array stepping
#: (its entries in the population's arrays and each round's temporaries), about 660 with
#: agent-by-agent stepping (the Mesa agent object too); the larger, with headroom.
BYTES_PER_AGENT = 700
#: Memory one recorded value takes: a Python float in the DataCollector's per-column lists, its
#: row dict, and its copy in the trajectory DataFrame (measured about 75 bytes per value).
BYTES_PER_RECORDED_VALUE = 80


def _memory_limit() -> int:
    """This machine's physical memory in bytes (``ABM_MEMORY_LIMIT`` overrides it)."""
    import os

    if os.environ.get("ABM_MEMORY_LIMIT"):
        return int(float(os.environ["ABM_MEMORY_LIMIT"]))
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def memory_estimate(simulation: "Simulation") -> tuple[int, int]:
    """``(agents_bytes, rounds_bytes)``: what a run of ``simulation`` holds at its largest:
    ``2 types x agents x BYTES_PER_AGENT`` and ``recorded rows x columns x BYTES_PER_RECORDED_VALUE``
    for the DataCollector (:attr:`Simulation.n_recorded` rows; the cumulative outputs are
    running totals in a fixed-size buffer, whatever the number of rounds)."""
    from abm.theory.fluid import TRAJECTORY_COLUMNS

    columns = len(TRAJECTORY_COLUMNS) + 1  # and the seed
    return 2 * simulation.agents * BYTES_PER_AGENT, simulation.n_recorded * columns * BYTES_PER_RECORDED_VALUE


def check_memory(simulation: "Simulation") -> None:
    """Refuse, before any work, a population or a round count that cannot fit in memory.

    Raises
    ------
    ValueError
        Naming the field, the estimate and how it was made, and the machine's memory.
    """
    from abm.theory.fluid import TRAJECTORY_COLUMNS

    limit = _memory_limit()
    agents_bytes, rounds_bytes = memory_estimate(simulation)
    gib = 2**30
    if agents_bytes > limit:
        raise ValueError(f"simulation.agents = {simulation.agents} needs about {agents_bytes / gib:.3g} GiB "
                         f"(2 types x {simulation.agents} agents x {BYTES_PER_AGENT} bytes per agent), more than "
                         f"this machine's memory ({limit / gib:.3g} GiB)")
    if rounds_bytes > limit or agents_bytes + rounds_bytes > limit:
        raise ValueError(f"simulation.horizon / simulation.dt = {simulation.n_rounds} rounds, recorded every "
                         f"{simulation.record_every} (simulation.record_every), need about {rounds_bytes / gib:.3g} "
                         f"GiB for the DataCollector ({simulation.n_recorded} recorded rounds x "
                         f"{len(TRAJECTORY_COLUMNS) + 1} columns x {BYTES_PER_RECORDED_VALUE} bytes), and the agents "
                         f"{agents_bytes / gib:.3g} GiB: more than this machine's memory ({limit / gib:.3g} GiB); "
                         "use a longer dt, a shorter horizon or a larger simulation.record_every")


def _default_market() -> DynamicMarket:
    return DynamicMarket(
        innovators=CreatorType(mass=1.0, beta=0.0, outside_option=PowerLaw(0.5, 1.0), initial_stock=2.0),
        rank_and_file=CreatorType(mass=20.0, beta=0.9, outside_option=PowerLaw(0.05, 2.0), initial_stock=1.0),
        value=1.0,
        sigma0_sq=0.5,
        kappa=0.2,
        depreciation=0.02,
    )


@dataclass(frozen=True)
class Scenario:
    """A named, described dynamic market with its simulation settings."""

    name: str = "curse_of_precision"
    description: str = (
        "The curse of precision at a finite horizon, with concept drift: an elastic rank-and-file "
        "population (supply elasticity 4), inelastic innovators (elasticity 2), and data that "
        "depreciate at 2% per unit time. In the fluid limit the myopic firm's price falls from "
        "0.243 to about 0.12 by t = 20 and settles at 0.121, 28% below the cap p_bar(g) = 0.169 and "
        "57% above the trap p* = 0.0773: depreciation holds the rank-and-file stock near X_C = 2.6, "
        "so their discount g = m_C/m_O stays near 0.15 instead of falling to 0. About 1.5% of "
        "innovators stay active, their stock depreciates from 2 to 0.125 by t = 200, and precision "
        "falls from 2.55 to 1.15, 75% of the barrier P_bar = 1.531. Precision ends below the "
        "barrier because drift keeps both stocks small, not because rank-and-file data saturate; "
        "price_trap.toml and precision_barrier.toml show Props. 5 and 6 themselves."
    )
    market: DynamicMarket = field(default_factory=_default_market)
    simulation: Simulation = field(default_factory=Simulation)
    learning: Learning = field(default_factory=Learning)
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    welfare: WelfareSettings = field(default_factory=WelfareSettings)
    #: How each type's creators decide entry (innovators, rank-and-file); see abm.theory.behaviour_limits.
    behaviours: tuple = (Behaviour(), Behaviour())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {describe(self.name)}")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"description must be a non-empty string, got {describe(self.description)}")
        check_magnitudes(self.to_dict())

    def with_simulation(self, **changes) -> "Scenario":
        """A copy with some simulation settings replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, simulation=dataclasses.replace(self.simulation, **changes))

    def with_regime(self, name: str) -> "Scenario":
        """A copy run under another market regime."""
        return self.with_simulation(regime=name)

    def to_dict(self) -> dict:
        """The scenario-file form (a TOML-ready nested dict)."""
        def creator(c: CreatorType, behaviour: Behaviour) -> dict:
            table = {"mass": c.mass, "beta": _value(c.beta), "cost": _value(c.cost), "initial_stock": c.initial_stock,
                     "outside_option": c.outside_option.to_dict()}
            return table if behaviour.is_default else {**table, "behaviour": behaviour.to_dict()}

        m = self.market
        return {
            "name": self.name,
            "description": self.description,
            "market": {"value": m.value, "sigma0_sq": m.sigma0_sq, "kappa": m.kappa, "depreciation": m.depreciation,
                       "discount_rate": self.welfare.discount_rate,
                       **({} if self.welfare.service_value is None else {"service_value": self.welfare.service_value})},
            "innovators": creator(m.innovators, self.behaviours[0]),
            "rank_and_file": creator(m.rank_and_file, self.behaviours[1]),
            "simulation": dataclasses.asdict(self.simulation),
            "learning": dataclasses.asdict(self.learning),
            "regime": dataclasses.asdict(self.regime),
        }


#: Largest magnitude of any number in a scenario: beyond it the model's products (such as
#: ``mass * beta^2 * stock * kappa`` in the precision, or ``mass * p^2 / cost`` in the supply)
#: overflow float64 or stall the fluid solver, and results turn into NaN.
MAX_MAGNITUDE = 1e12
#: Smallest positive value of a field the model divides by (``p / cost``, ``payoff / scale``).
MIN_DIVISOR = 1e-12
_DIVISORS = (".cost", ".outside_option.scale", ".outside_option.median")


def check_magnitudes(tree: dict) -> None:
    """Refuse numbers whose products would overflow: every finite number of a scenario's tree
    (:meth:`Scenario.to_dict` form; but ``simulation.agents`` and ``simulation.seed``, bounded by
    memory and 63 bits) must be at most :data:`MAX_MAGNITUDE` in magnitude, and a cost, scale
    or median at least :data:`MIN_DIVISOR`.
    """
    import math

    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"{prefix}{key}", value

    for path, value in leaves(tree):
        if path in ("simulation.agents", "simulation.seed") or not math.isfinite(value):
            continue
        require_at_most(value, MAX_MAGNITUDE, path, "larger values overflow float64 in the model's products, "
                                                    "e.g. mass * beta^2 * stock * kappa")
        if path.endswith(_DIVISORS) and 0 < value < MIN_DIVISOR:
            raise ValueError(f"{path} must be >= {MIN_DIVISOR:g} (the model divides by it: effort p / cost, "
                             f"entry payoff / scale), got {value!r}")


def _value(characteristic):
    """A loading or cost in scenario-file form: a number, or its distribution table."""
    return characteristic if isinstance(characteristic, float) else characteristic.to_value()


def default_scenario() -> Scenario:
    """The embedded default: the curse of precision."""
    return Scenario()


def _creator(table: dict, where: str) -> CreatorType:
    check_keys(table, {"mass", "beta", "cost", "initial_stock", "outside_option"}, where,
                required={"mass", "beta", "outside_option"})
    options: OutsideOptions = outside_options_from_dict(table["outside_option"], f"{where}.outside_option")
    try:
        return CreatorType(**{**table, "outside_option": options})
    except ValueError as error:
        raise ValueError(_field_message(where, table, error)) from None


def _field_message(where: str, table: dict, error: ValueError) -> str:
    """``"market", "kappa must be > 0"`` -> ``"market.kappa must be > 0"`` (else ``"market: ..."``)."""
    message = str(error)
    field_name = message.split(" ", 1)[0].split(".", 1)[0]
    return f"{where}.{message}" if field_name in table or field_name in _FIELD_NAMES else f"{where}: {message}"


_FIELD_NAMES = {"mass", "beta", "cost", "initial_stock", "outside_option", "value", "sigma0_sq", "kappa", "depreciation"}


def scenario_from_dict(data: dict) -> Scenario:
    """Build and validate a :class:`Scenario` from the nested dict of a scenario file.

    Raises
    ------
    ValueError
        Naming the unknown, missing or invalid key.
    """
    if not isinstance(data, dict):
        raise ValueError(f"scenario must be a table (a dict of the file's keys), got {describe(data)}")
    check_keys(data, {"name", "description", "market", "innovators", "rank_and_file", "simulation", "learning",
                       "regime"},
                "scenario", required={"description", "innovators", "rank_and_file"})
    market = data.get("market", {})
    check_keys(market, {"value", "sigma0_sq", "kappa", "depreciation", *WELFARE_KEYS}, "market")
    market = dict(market)
    welfare = {key: market.pop(key) for key in WELFARE_KEYS if key in market}
    simulation = data.get("simulation", {})
    check_keys(simulation, {f.name for f in dataclasses.fields(Simulation)}, "simulation")
    learning = data.get("learning", {})
    check_keys(learning, {f.name for f in dataclasses.fields(Learning)}, "learning")
    regime = data.get("regime", {})
    check_keys(regime, {f.name for f in dataclasses.fields(RegimeSettings)}, "regime")
    check_magnitudes(data)  # before the relations between fields, so 1e300 is named as too large
    tables = {kind: dict(data[kind]) if isinstance(data[kind], dict) else data[kind]
              for kind in ("innovators", "rank_and_file")}
    behaviours = tuple(behaviour_from_dict(table.pop("behaviour", {}), f"{kind}.behaviour")
                       if isinstance(table, dict) else Behaviour() for kind, table in tables.items())
    try:
        dynamic = DynamicMarket(_creator(tables["innovators"], "innovators"),
                                _creator(tables["rank_and_file"], "rank_and_file"), **market)
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith(("innovators", "rank_and_file"))
                         else _field_message("market", market, error)) from None
    return Scenario(
        name=data.get("name", "scenario"),
        description=data["description"],
        market=dynamic,
        simulation=Simulation(**simulation),
        learning=Learning(**learning),
        regime=RegimeSettings(**regime),
        welfare=_welfare(welfare),
        behaviours=behaviours,
    )


#: Keys of ``[market]`` that value welfare over time (:class:`abm.theory.welfare.WelfareSettings`).
WELFARE_KEYS = ("service_value", "discount_rate")


def _welfare(table: dict) -> WelfareSettings:
    try:
        return WelfareSettings(**table)
    except ValueError as error:
        raise ValueError(f"market: {str(error).replace('welfare.', 'market.')}") from None


def load_scenario(path) -> Scenario:
    """Read a scenario TOML file (see the module docstring for its layout).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the TOML is malformed or any key is unknown, missing or invalid; the message
        names the file and the key.
    """
    path = Path(path)
    data = read_toml(path, "scenario file")
    data.setdefault("name", path.stem)
    try:
        return scenario_from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def scenario_names() -> list[str]:
    """Names of the shipped scenarios (files in :data:`SCENARIO_DIR`)."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario(scenario=None) -> Scenario:
    """A :class:`Scenario` from an object, a shipped scenario's name, a file path, or ``None``
    (the embedded default).

    Raises
    ------
    FileNotFoundError
        For a name that is neither a shipped scenario nor an existing file.
    """
    if scenario is None:
        return default_scenario()
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, (str, Path)):
        raise ValueError(f"scenario must be a Scenario, the name of a shipped scenario or a file path, got {scenario!r}")
    if not str(scenario).strip():
        raise ValueError(f"scenario must name a file or a shipped scenario ({', '.join(scenario_names())}), "
                         f"got {str(scenario)!r}")
    if isinstance(scenario, str) and scenario in scenario_names():
        return load_scenario(SCENARIO_DIR / f"{scenario}.toml")
    path = Path(scenario)
    if not path.is_file():
        raise FileNotFoundError(f"no scenario file at {path} (and no shipped scenario of that name; "
                                f"shipped: {', '.join(scenario_names())})")
    return load_scenario(path)


#: Keys whose value may be a distribution table (replaced whole, or parameter by parameter).
_DISTRIBUTED = ("outside_option", "beta", "cost")


def _leaf_paths(tree: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in _DISTRIBUTED:
            paths += _leaf_paths(value, path + ".")
        else:
            paths.append(path)
            if isinstance(value, dict):  # a distribution: replace it whole, or one of its parameters
                paths += [f"{path}.{name}" for name in value if name != "distribution"]
    return paths


def keyword_paths(scenario: Scenario) -> dict[str, str]:
    """Every keyword :func:`apply_overrides` accepts for ``scenario``, mapped to its dotted path.

    Dotted paths map to themselves; underscore forms always exist; a bare field name exists
    where it is unique in the scenario (``kappa`` yes, ``beta`` no: both types have one).
    """
    paths = _leaf_paths(scenario.to_dict())
    if "market.service_value" not in paths:  # unset (it follows market.value), but settable
        paths.append("market.service_value")
    names: dict[str, str] = {path: path for path in paths}
    names.update({path.replace(".", "_"): path for path in paths})
    leaves: dict[str, list[str]] = {}
    for path in paths:
        if ".behaviour." not in path:  # behaviour parameters have no bare name (discount_rate is the market's)
            leaves.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    names.update({leaf: found[0] for leaf, found in leaves.items() if len(found) == 1 and leaf not in names})
    return names


def _behaviour_keywords() -> dict[str, str]:
    """Keywords of every behaviour field of either type (settable even where the table is absent)."""
    names = sorted({name for parameters in RULE_PARAMETERS.values() for name in parameters})
    paths = [f"{kind}.behaviour.{name}" for kind in ("innovators", "rank_and_file") for name in ("rule", *names)]
    return {**{path: path for path in paths}, **{path.replace(".", "_"): path for path in paths}}


def _set_path(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        tree = tree.setdefault(key, {}) if key == "behaviour" else tree[key]
    tree[leaf] = value


def apply_overrides(scenario: Scenario, overrides: dict) -> Scenario:
    """A copy of ``scenario`` with fields replaced by keyword, validated like a scenario file.

    Parameters
    ----------
    scenario : Scenario
    overrides : dict
        Keys as listed by :func:`keyword_paths`; an outside option may be replaced whole by a
        table (``{"distribution": "point_mass", "value": 0.01}``).

    Raises
    ------
    ValueError
        Naming an unknown keyword (with the closest known ones) or an invalid value.
    """
    if not isinstance(overrides, dict):
        raise ValueError(f"overrides must be a dict of scenario parameters, got {describe(overrides)}")
    if not overrides:
        return scenario
    known = {**_behaviour_keywords(), **keyword_paths(scenario)}
    tree = scenario.to_dict()
    for key, value in overrides.items():
        if key not in known:
            import difflib

            same_leaf = [path for path in known.values() if isinstance(key, str) and path.endswith("." + key)]
            close = sorted(set(same_leaf)) or difflib.get_close_matches(str(key), known, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise ValueError(f"unknown scenario parameter {key!r}{hint} (see abm.scenario.keyword_paths)")
        _set_path(tree, known[key], value)
    given = {known[key] for key in overrides}
    for kind in ("innovators", "rank_and_file"):  # a new rule drops the old rule's parameters
        table = tree[kind].get("behaviour")
        if table is not None and f"{kind}.behaviour.rule" in given and table.get("rule") in RULE_PARAMETERS:
            keep = set(RULE_PARAMETERS[table["rule"]])
            tree[kind]["behaviour"] = {name: value for name, value in table.items()
                                       if name == "rule" or name in keep or f"{kind}.behaviour.{name}" in given}
    return scenario_from_dict(tree)
