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
    [simulation]       horizon, dt, agents, firm, regime, sampling, seed
    [learning]         learning_rate, probe, initial_price   (optional; firm = "learning")
    [regime]           operating_cost, firm_outside, creator_outside, bargaining_power,
                       statutory_rate, pool_share, innovator_beta   (optional)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from abm.storage import read_toml
from abm.regimes import REGIMES, RegimeSettings
from abm.theory._validation import check_keys, require_positive, require_unit_interval
from abm.theory.fluid import CreatorType, DynamicMarket
from abm.theory.supply import OutsideOptions, PowerLaw, outside_options_from_dict

__all__ = ["Learning", "Simulation", "Scenario", "load_scenario", "scenario_from_dict", "FIRM_BEHAVIOURS",
           "SAMPLING_METHODS", "default_scenario", "SCENARIO_DIR", "scenario_names", "resolve_scenario",
           "keyword_paths", "apply_overrides"]

#: Where the shipped scenario files live (package data).
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

#: Firm behaviours the agent-based model knows (see ``abm.simulation.dynamic_market.agents``).
FIRM_BEHAVIOURS = ("myopic", "learning")
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
    """

    horizon: float = 200.0
    dt: float = 0.05
    agents: int = 5000
    firm: str = "myopic"
    regime: str = "strict_ip"
    sampling: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        horizon = require_positive(self.horizon, "simulation.horizon")
        dt = require_positive(self.dt, "simulation.dt")
        if dt > horizon:
            raise ValueError(f"simulation.dt must not exceed simulation.horizon, got dt={dt} > {horizon}")
        object.__setattr__(self, "horizon", horizon)
        object.__setattr__(self, "dt", dt)
        if isinstance(self.agents, bool) or int(self.agents) != self.agents or self.agents < 1:
            raise ValueError(f"simulation.agents must be a whole number >= 1, got {self.agents!r}")
        object.__setattr__(self, "agents", int(self.agents))
        if self.firm not in FIRM_BEHAVIOURS:
            raise ValueError(f"simulation.firm must be one of {FIRM_BEHAVIOURS}, got {self.firm!r}")
        if self.regime not in REGIMES:
            raise ValueError(f"simulation.regime must be one of {list(REGIMES)}, got {self.regime!r}")
        if self.sampling not in SAMPLING_METHODS:
            raise ValueError(f"simulation.sampling must be one of {SAMPLING_METHODS}, got {self.sampling!r}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"simulation.seed must be a whole number >= 0, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))

    @property
    def n_rounds(self) -> int:
        """Rounds needed to cover the horizon, ``ceil(T / dt)`` up to rounding."""
        return max(1, int(round(self.horizon / self.dt)))


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
        "The curse of precision: an elastic rank-and-file population (supply elasticity 4) and "
        "inelastic innovators (elasticity 2). The myopic firm's price settles near the trap, "
        "about 1.5% of innovators stay, their data depreciates away, and precision falls below "
        "the barrier P_bar = 1.531 that no amount of rank-and-file data can lift it past."
    )
    market: DynamicMarket = field(default_factory=_default_market)
    simulation: Simulation = field(default_factory=Simulation)
    learning: Learning = field(default_factory=Learning)
    regime: RegimeSettings = field(default_factory=RegimeSettings)

    def __post_init__(self) -> None:
        if not str(self.description).strip():
            raise ValueError("description must be a non-empty string")

    def with_simulation(self, **changes) -> "Scenario":
        """A copy with some simulation settings replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, simulation=dataclasses.replace(self.simulation, **changes))

    def with_regime(self, name: str) -> "Scenario":
        """A copy run under another market regime."""
        return self.with_simulation(regime=name)

    def to_dict(self) -> dict:
        """The scenario-file form (a TOML-ready nested dict)."""
        def creator(c: CreatorType) -> dict:
            return {"mass": c.mass, "beta": c.beta, "cost": c.cost, "initial_stock": c.initial_stock,
                    "outside_option": c.outside_option.to_dict()}

        m = self.market
        return {
            "name": self.name,
            "description": self.description,
            "market": {"value": m.value, "sigma0_sq": m.sigma0_sq, "kappa": m.kappa, "depreciation": m.depreciation},
            "innovators": creator(m.innovators),
            "rank_and_file": creator(m.rank_and_file),
            "simulation": dataclasses.asdict(self.simulation),
            "learning": dataclasses.asdict(self.learning),
            "regime": dataclasses.asdict(self.regime),
        }


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
        raise ValueError(f"{where}: {error}") from None


def scenario_from_dict(data: dict) -> Scenario:
    """Build and validate a :class:`Scenario` from the nested dict of a scenario file.

    Raises
    ------
    ValueError
        Naming the unknown, missing or invalid key.
    """
    check_keys(data, {"name", "description", "market", "innovators", "rank_and_file", "simulation", "learning",
                       "regime"},
                "scenario", required={"description", "innovators", "rank_and_file"})
    market = data.get("market", {})
    check_keys(market, {"value", "sigma0_sq", "kappa", "depreciation"}, "market")
    simulation = data.get("simulation", {})
    check_keys(simulation, {f.name for f in dataclasses.fields(Simulation)}, "simulation")
    learning = data.get("learning", {})
    check_keys(learning, {f.name for f in dataclasses.fields(Learning)}, "learning")
    regime = data.get("regime", {})
    check_keys(regime, {f.name for f in dataclasses.fields(RegimeSettings)}, "regime")
    try:
        dynamic = DynamicMarket(_creator(data["innovators"], "innovators"),
                                _creator(data["rank_and_file"], "rank_and_file"), **market)
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith(("innovators", "rank_and_file"))
                         else f"market: {error}") from None
    return Scenario(
        name=str(data.get("name", "scenario")),
        description=str(data["description"]),
        market=dynamic,
        simulation=Simulation(**simulation),
        learning=Learning(**learning),
        regime=RegimeSettings(**regime),
    )


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
    if isinstance(scenario, str) and scenario in scenario_names():
        return load_scenario(SCENARIO_DIR / f"{scenario}.toml")
    path = Path(scenario)
    if not path.is_file():
        raise FileNotFoundError(f"no scenario file at {path} (and no shipped scenario of that name; "
                                f"shipped: {', '.join(scenario_names())})")
    return load_scenario(path)


def _leaf_paths(tree: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key != "outside_option":
            paths += _leaf_paths(value, path + ".")
        else:
            paths.append(path)
            if key == "outside_option":
                paths += [f"{path}.{name}" for name in value if name != "distribution"]
    return paths


def keyword_paths(scenario: Scenario) -> dict[str, str]:
    """Every keyword :func:`apply_overrides` accepts for ``scenario``, mapped to its dotted path.

    Dotted paths map to themselves; underscore forms always exist; a bare field name exists
    where it is unique in the scenario (``kappa`` yes, ``beta`` no: both types have one).
    """
    paths = _leaf_paths(scenario.to_dict())
    names: dict[str, str] = {path: path for path in paths}
    names.update({path.replace(".", "_"): path for path in paths})
    leaves: dict[str, list[str]] = {}
    for path in paths:
        leaves.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    names.update({leaf: found[0] for leaf, found in leaves.items() if len(found) == 1 and leaf not in names})
    return names


def _set_path(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        tree = tree[key]
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
    if not overrides:
        return scenario
    known = keyword_paths(scenario)
    tree = scenario.to_dict()
    for key, value in overrides.items():
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, known, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise ValueError(f"unknown scenario parameter {key!r}{hint} (see abm.scenario.keyword_paths)")
        _set_path(tree, known[key], value)
    return scenario_from_dict(tree)
