"""Agent-based dynamic market: the array path at scale, and arrays against agent-by-agent.

Run: ``python3 benchmarks/dynamic.py [--creators 1000000] [--rounds 1000] [--repeats 3] [--huge]``.
Every comparison is measured side by side in one run, its repeats interleaved, and printed
as min / median over the repeats, wall clock and (in brackets) CPU time of this process:

1. memory bandwidth (a large ``np.copyto``), the yardstick for creator-rounds per second;
2. building 10^6 creators (goal <= 1 s);
3. 10^6 creators x 1,000 rounds of the default scenario (strict IP, myopic firm) on the
   numpy path (goal <= 20 s), with loadings drawn per creator, and with the compiled
   loops (numba, goal <= 12 s);
4. rounds whose prices differ from creator to creator (loadings per creator under the
   collective pool: the one path that touches every creator every round), numpy against
   compiled, against the bandwidth bound;
5. per round at 10^4 and 10^5 creators, the array path against Mesa's agent-by-agent
   ``shuffle_do("step")`` (goal >= 100x);
6. with ``--huge``: 10^7 creators x 1,000 rounds in a child process under
   ``/usr/bin/time -v`` for its peak memory (goals <= 3 min and <= 2.5 GB).

``--behaviours`` runs only the behaviours' comparison (goal: the slowest behaviour's round
within 2x of best response): per round at ``--creators`` creators, best response on its
prefix path, best response forced through the per-creator array path (the pass over every
creator that a rule with per-creator random or remembered state must pay at least), and
every other rule of :data:`~abm.simulation.dynamic_market.behaviours.BEHAVIOURS` on the
shipped scenario that uses it, each against both references and against the bandwidth
bound of a per-creator pass; ``--before`` adds logit and sunk entry with their fast paths
patched out (a fifth of the rounds), ``--numpy`` runs without the compiled loops (the
default install).

``--structures`` runs only the market structures' comparison: per round at ``--creators``
best-responding creators, the monopsonist under strict IP against every other regime of
:data:`~abm.regimes.REGIMES` (incl. the private broker and the creator union) and two rival
firms under both licences; with ``--before`` also the rival firms with every piece of the
supply curve scanned for each best response and ceiling (as before the block search).
"""

import argparse
import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import Timing, ratio, timed  # noqa: E402

import abm.simulation.dynamic_market.model as model_module  # noqa: E402
from abm.scenario import default_scenario, resolve_scenario  # noqa: E402
from abm.simulation.dynamic_market import behaviours  # noqa: E402
from abm.simulation.dynamic_market import kernels  # noqa: E402
from abm.simulation.dynamic_market.model import DataMarketModel  # noqa: E402
from abm.theory.heterogeneity import UniformValues, characteristic_from_value  # noqa: E402
from analysis import comparison  # noqa: E402

#: Loadings drawn per creator (scenario files cannot say this yet): innovators U(0, 0.1),
#: rank-and-file U(0.8, 1.0) around the default scenario's 0 and 0.9.
SPREAD = {("beta", 0.0): UniformValues(0.0, 0.1), ("beta", 0.9): UniformValues(0.8, 1.0)}

#: Bytes a round with per-creator prices moves per creator: the regime reads each creator's
#: marginal value (loading 8 B in, value 8 B out, price 8 B in and out), the model checks the
#: prices (8 B), and the round reads price, entry price, loading and outside option (32 B),
#: reads and writes the stock (16 B) and writes entry and effort (9 B).
BYTES_PER_CREATOR_ROUND = 8 + 8 + 16 + 8 + 32 + 16 + 9


#: Bytes a behaviour's per-creator pass moves at least per creator: the generator writes a
#: uniform and the rule reads it back (16 B), reads the outside option (8 B), writes entry and
#: effort (9 B), and the stock is read and written (16 B); the per-type sums read entry and
#: effort again (9 B).
BEHAVIOUR_BYTES = 16 + 8 + 9 + 16 + 9


def behaviour_scenario(rule: str):
    """The shipped scenario that shows ``rule`` (:func:`analysis.comparison.behaviour_scenario`), or None."""
    name = comparison.behaviour_scenario(rule)
    return None if name is None else resolve_scenario(name)


def force_array_best_response(model) -> None:
    """Make every type of a model built with another rule best-respond, over the arrays."""
    model.behaviour.rules = [behaviours.BestResponse(behaviour, model.population, k)
                             for k, behaviour in enumerate(default_scenario().behaviours)]


class BeforeSpeedups:
    """Within the block, the behaviours' round as it was before their fast paths (issue 16, goal 4):
    the logit count summed over every creator, each rule deciding creator by creator over the
    arrays, the sunk-entry supply curve rebuilt every round and the stock update in numpy."""

    def __enter__(self):
        rules, entry = behaviours, behaviours.EntryRule
        self.saved = [(rules.Logit, "expected_count", rules.Logit.expected_count),
                      (rules.Logit, "decide_all", rules.Logit.decide_all),
                      (rules.SunkEntry, "decide_all", rules.SunkEntry.decide_all),
                      (rules, "_supply_key", rules._supply_key),
                      (rules.CreatorBehaviours, "step_all", rules.CreatorBehaviours.step_all)]

        def direct_count(rule, price):
            return float(np.sum(behaviours.expit((rule.payoff(price) - rule.options) / rule.temperature)))

        def numpy_step_all(self):
            population = self.population
            for rule in self.rules:
                rule.decide_all()
            population.stock[:] = population.decay * population.stock + population.growth * (population.mass
                                                                                              * population.effort)

        rules.Logit.expected_count = direct_count
        rules.Logit.decide_all = entry.decide_all
        rules.SunkEntry.decide_all = entry.decide_all
        rules._supply_key = lambda rule: None
        rules.CreatorBehaviours.step_all = numpy_step_all
        return self

    def __exit__(self, *exc):
        for owner, name, value in self.saved:
            setattr(owner, name, value)


def behaviour_round(scenario, creators: int, rounds: int, force_best: bool = False, before: bool = False,
                    compiled: bool | None = None) -> tuple:
    """``(wall, CPU)`` seconds per round of ``rounds`` rounds (the build excluded)."""
    scenario = scenario.with_simulation(agents=creators // 2, horizon=rounds * scenario.simulation.dt)
    model = DataMarketModel(scenario, rng=1, compiled=compiled)
    if force_best:
        force_array_best_response(model)
    with BeforeSpeedups() if before else contextlib.nullcontext():
        _, wall, cpu = timed(lambda: model.run(rounds))
    return wall / rounds, cpu / rounds


def behaviours_section(n: int, rounds: int, repeats: int, before: bool = False, numpy_only: bool = False) -> None:
    """Per-round cost of every behaviour at ``n`` creators, side by side (goal 4 of issue 16)."""
    section("1. memory bandwidth")
    copy = bandwidth(5)
    speed = 4e8 / copy.min("cpu")
    print(f"np.copyto of 200 MB: {copy.describe('ms', 1e3)}; {speed / 1e9:.1f} GB/s by CPU time")
    bound = n * BEHAVIOUR_BYTES / speed
    sunk = behaviour_scenario("sunk_entry")
    variants = {"best_response (prefix sums)": (default_scenario(), False, False),
                "best_response (per-creator arrays)": (sunk, True, False)}
    for rule in behaviours.BEHAVIOURS:
        scenario = behaviour_scenario(rule)
        if rule != "best_response" and scenario is not None:
            variants[rule] = (scenario, False, False)
    if before:
        for rule in ("logit", "sunk_entry"):
            variants[f"{rule} (before)"] = (behaviour_scenario(rule), False, True)
    compiled = kernels.AVAILABLE and not numpy_only
    section(f"2. per round at {n:,} creators, {rounds} rounds, compiled loops {'on' if compiled else 'off'}")
    for scenario, force, old in variants.values():  # compile and warm up outside the timings
        behaviour_round(scenario, 2000, 3, force, old, compiled)
    timings = {name: Timing() for name in variants}
    for _ in range(repeats):
        for name, (scenario, force, old) in variants.items():
            count = max(rounds // 5, 2) if old else rounds  # the old rounds are slow: fewer of them
            per_round = behaviour_round(scenario, n, count, force, old, compiled)
            timings[name].add(*per_round)
    best, array = timings["best_response (prefix sums)"], timings["best_response (per-creator arrays)"]
    print(f"lower bound of a per-creator pass: {BEHAVIOUR_BYTES} B per creator at {speed / 1e9:.1f} GB/s = "
          f"{bound * 1e3:.2f} ms per round")
    for name, timing in timings.items():
        print(f"{name:>36}: {timing.describe('ms', 1e3)}; / prefix {ratio(timing, best, 'cpu')} CPU "
              f"({ratio(timing, best)} wall); / per-creator pass {ratio(timing, array, 'cpu')} CPU "
              f"({ratio(timing, array)} wall); / bandwidth bound {timing.min('cpu') / bound:.3g}x CPU")


#: Rival firms' market structures: (firms, licensing).
RIVALS = {"2 firms, non-exclusive": (2, "non_exclusive"), "2 firms, exclusive": (2, "exclusive")}


class ScanEveryPiece:
    """Within the block, rival firms' best responses and ceilings scan every piece of the supply curve."""

    def __enter__(self):
        from abm.theory.rivals import PieceSupply

        self.saved = (PieceSupply.best_response, PieceSupply.ceiling)
        best_response, ceiling = self.saved
        PieceSupply.best_response = lambda supply, *a, **k: best_response(supply, *a, **{**k, "exhaustive": True})
        PieceSupply.ceiling = lambda supply, *a, **k: ceiling(supply, *a, **{**k, "exhaustive": True})
        return self

    def __exit__(self, *exc):
        from abm.theory.rivals import PieceSupply

        PieceSupply.best_response, PieceSupply.ceiling = self.saved


def structure_round(keywords: dict, creators: int, rounds: int, before: bool = False) -> tuple:
    """``(wall, CPU)`` seconds per round of ``rounds`` rounds of the default scenario with ``keywords``."""
    scenario = default_scenario()
    model = DataMarketModel(agents=creators // 2, horizon=rounds * scenario.simulation.dt, rng=1, **keywords)
    with ScanEveryPiece() if before else contextlib.nullcontext():
        _, wall, cpu = timed(lambda: model.run(rounds))
    return wall / rounds, cpu / rounds


def structures_section(n: int, rounds: int, repeats: int, before: bool = False) -> None:
    """Per-round cost of every market structure at ``n`` best-responding creators, side by side."""
    from abm.regimes import REGIMES

    variants = {f"monopsonist, {name}": ({"regime": name}, rounds, False) for name in REGIMES}
    short = max(rounds // 10, 2)  # the first rounds (from prices 0) cost most: before and after on the same rounds
    for name, (firms, licensing) in RIVALS.items():
        variants[name] = ({"firms": firms, "licensing": licensing}, rounds, False)
        if before:
            variants[f"{name}, {short} rounds"] = ({"firms": firms, "licensing": licensing}, short, False)
            variants[f"{name}, {short} rounds, every piece scanned"] = ({"firms": firms, "licensing": licensing},
                                                                       short, True)
    section(f"market structures: per round at {n:,} best-responding creators (default scenario)")
    for keywords, _, old in variants.values():  # warm up outside the timings
        structure_round(keywords, 2000, 3, old)
    timings = {name: Timing() for name in variants}
    for _ in range(repeats):
        for name, (keywords, count, old) in variants.items():
            timings[name].add(*structure_round(keywords, n, count, old))
    reference = timings["monopsonist, strict_ip"]
    for name, timing in timings.items():
        print(f"{name:>42}: {timing.describe('ms', 1e3)}; / monopsonist under strict IP "
              f"{ratio(timing, reference, 'cpu')} CPU ({ratio(timing, reference)} wall)")
    for name in RIVALS:
        if before:
            scanned = timings[f"{name}, {short} rounds, every piece scanned"]
            searched = timings[f"{name}, {short} rounds"]
            print(f"{name}, first {short} rounds: scanning every piece / the block search "
                  f"{ratio(scanned, searched, 'cpu')} CPU ({ratio(scanned, searched)} wall)")


def with_loadings(loadings: bool):
    """Make the next models draw loadings per creator (or not)."""
    def characteristic(value, where):
        return SPREAD.get((where, value), characteristic_from_value(value, where))

    model_module.characteristic_from_value = characteristic if loadings else characteristic_from_value


def build_and_run(creators: int, rounds: int, stepping: str = "array", compiled: bool = False,
                  loadings: bool = False, regime: str = "strict_ip") -> tuple:
    """``((build wall, build CPU), (run wall, run CPU))`` in seconds."""
    with_loadings(loadings)
    scenario = default_scenario().with_simulation(agents=creators // 2, horizon=rounds * 0.05, dt=0.05, regime=regime)
    try:
        model, build_wall, build_cpu = timed(lambda: DataMarketModel(scenario, rng=1, stepping=stepping,
                                                                     compiled=compiled))
        _, run_wall, run_cpu = timed(lambda: model.run(rounds))
    finally:
        with_loadings(False)
    return (build_wall, build_cpu), (run_wall, run_cpu)


def bandwidth(repeats: int) -> Timing:
    """Seconds to copy 200 MB (400 MB of traffic) with ``np.copyto``."""
    source, target = np.ones(25_000_000), np.empty(25_000_000)
    timing = Timing()
    for _ in range(repeats):
        _, wall, cpu = timed(lambda: np.copyto(target, source))
        timing.add(wall, cpu)
    return timing


def section(title: str) -> None:
    print(f"\n== {title}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-creator-rounds", type=int, default=100,
                        help="rounds of the per-creator-price comparison (section 4)")
    parser.add_argument("--huge", action="store_true", help="also run 10^7 creators in a child process")
    parser.add_argument("--behaviours", action="store_true",
                        help="only the behaviours' per-round comparison (goal 4 of issue 16)")
    parser.add_argument("--behaviour-rounds", type=int, default=50, help="rounds per behaviour measurement")
    parser.add_argument("--before", action="store_true",
                        help="with --behaviours: also logit and sunk entry as they were before their fast paths; "
                             "with --structures: also rival firms scanning every piece")
    parser.add_argument("--numpy", action="store_true", help="with --behaviours: without the compiled loops")
    parser.add_argument("--structures", action="store_true",
                        help="only the market structures' per-round comparison (goal 4 of issue 16)")
    parser.add_argument("--single", nargs=2, type=int, metavar=("CREATORS", "ROUNDS"),
                        help="(internal) build and run one model and print its times")
    args = parser.parse_args()
    if args.single:
        (build_wall, build_cpu), (run_wall, run_cpu) = build_and_run(*args.single)
        print(f"build {build_wall:.3f} {build_cpu:.3f} run {run_wall:.3f} {run_cpu:.3f}")
        return
    n, rounds, repeats = args.creators, args.rounds, args.repeats
    if args.behaviours:
        behaviours_section(n, args.behaviour_rounds, repeats, args.before, args.numpy)
        return
    if args.structures:
        structures_section(n, args.behaviour_rounds, repeats, args.before)
        return
    compiled = kernels.AVAILABLE
    if compiled:  # compile (and cache) the loops outside the timings
        build_and_run(2000, 3, compiled=True, loadings=True, regime="collective_pool")
        build_and_run(200_000, 3, compiled=True)

    section("1. memory bandwidth")
    copy = bandwidth(5)
    speed = 4e8 / copy.min("cpu")  # CPU time: the wall clock also counts other processes' turns
    print(f"np.copyto of 200 MB: {copy.describe('ms', 1e3)}; streaming bandwidth {speed / 1e9:.1f} GB/s "
          f"by CPU time ({4e8 / copy.min() / 1e9:.1f} GB/s by wall clock; read + write, best of 5)")

    section(f"2.-3. {n:,} creators x {rounds:,} rounds, default scenario (strict IP, myopic firm)")
    variants = {"numpy": dict(), "numpy, loadings per creator": dict(loadings=True)}
    if compiled:
        variants["compiled (numba)"] = dict(compiled=True)
    builds = {name: Timing() for name in variants}
    runs = {name: Timing() for name in variants}
    for _ in range(repeats):
        for name, options in variants.items():
            build, run = build_and_run(n, rounds, **options)
            builds[name].add(*build)
            runs[name].add(*run)
    for name in variants:
        total = Timing()
        for b_wall, b_cpu, r_wall, r_cpu in zip(builds[name].wall, builds[name].cpu, runs[name].wall, runs[name].cpu):
            total.add(b_wall + r_wall, b_cpu + r_cpu)
        per_second = n * rounds / runs[name].min()
        print(f"{name:>28}: build {builds[name].describe('s')}; run {runs[name].describe('s')}; "
              f"total {total.describe('s')}; {per_second:.3g} creator-rounds/s (wall)")
    print(f"(bandwidth bound if every creator were touched every round: {speed / BYTES_PER_CREATOR_ROUND:.3g} "
          f"creator-rounds/s at {BYTES_PER_CREATOR_ROUND} B per creator-round; these rounds touch O(sqrt n) pieces)")

    section(f"4. per-creator prices (loadings per creator, collective pool), {n:,} creators x "
            f"{args.per_creator_rounds} rounds")
    options = {"numpy": dict(), **({"compiled (numba)": dict(compiled=True)} if compiled else {})}
    per_round = {name: Timing() for name in options}
    for _ in range(repeats):
        for name, extra in options.items():
            _, run = build_and_run(n, args.per_creator_rounds, loadings=True, regime="collective_pool", **extra)
            per_round[name].add(*(t / args.per_creator_rounds for t in run))
    for name in options:
        rate = n / per_round[name].min("cpu")
        print(f"{name:>28}: {per_round[name].describe('ms per round', 1e3)}; {rate:.3g} creator-rounds per CPU "
              f"second = {rate * BYTES_PER_CREATOR_ROUND / speed:.0%} of the bandwidth bound "
              f"({speed / BYTES_PER_CREATOR_ROUND:.3g})")
    if compiled:
        print(f"{'numpy / compiled':>28}: {ratio(per_round['numpy'], per_round['compiled (numba)'])} wall, "
              f"{ratio(per_round['numpy'], per_round['compiled (numba)'], 'cpu')} CPU")

    section("5. per round, array path against Mesa's agent-by-agent path")
    for creators, agent_rounds in ((10_000, 20), (100_000, 2)):
        paths = {"array (numpy)": dict(), **({"array (compiled)": dict(compiled=True)} if compiled else {}),
                 "agent by agent": dict(stepping="agents")}
        timings = {name: Timing() for name in paths}
        for _ in range(repeats):
            for name, extra in paths.items():
                count = agent_rounds if name == "agent by agent" else 400
                _, run = build_and_run(creators, count, **extra)
                timings[name].add(*(t / count for t in run))
        agents = timings["agent by agent"]
        print(f"{creators:,} creators: agent by agent {agents.describe('ms', 1e3)} "
              f"({agents.min('cpu') / creators * 1e6:.2f} us CPU per agent-step)")
        for name in paths:
            if name != "agent by agent":
                print(f"{'':>10}{name}: {timings[name].describe('ms', 1e3)}; agent by agent / array "
                      f"{ratio(agents, timings[name])} wall, {ratio(agents, timings[name], 'cpu')} CPU")

    if args.huge:
        section("6. 10,000,000 creators x 1,000 rounds (child process, /usr/bin/time -v)")
        for _ in range(repeats):
            command = ["/usr/bin/time", "-v", sys.executable, __file__, "--single", "10000000", "1000"]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            elapsed = time.perf_counter() - start
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
            print(f"{done.stdout.strip()} (s wall, CPU); process {elapsed:.1f} s wall; "
                  f"peak memory {rss / 2**20:.2f} GB")


if __name__ == "__main__":
    main()
