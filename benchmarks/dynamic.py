"""Agent-based dynamic market: array path at 10^6 creators, and arrays vs agent-by-agent.

Run: ``python3 benchmarks/dynamic.py [--creators 1000000] [--rounds 1000]``. Prints, in
one run: the time to build and run 10^6 creators (half of each type) for 1,000 rounds
through the array path, and at 10^4 creators the per-round time of the array path and of
the agent-by-agent path (``shuffle_do("step")``) with their ratio.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_of  # noqa: E402

from abm.simulation.dynamic_market.model import DataMarketModel  # noqa: E402
from abm.scenario import default_scenario  # noqa: E402


def build_and_run(creators: int, rounds: int, stepping: str) -> tuple[float, float]:
    """Seconds to build the model, and seconds to run ``rounds`` rounds."""
    scenario = default_scenario().with_simulation(agents=creators // 2, horizon=rounds * 0.05, dt=0.05)
    start = time.perf_counter()
    model = DataMarketModel(scenario, rng=1, stepping=stepping)
    built = time.perf_counter()
    model.run(rounds)
    return built - start, time.perf_counter() - built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creators", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()

    build, run = build_and_run(args.creators, args.rounds, "array")
    print(f"{args.creators:,} creators, {args.rounds:,} rounds, array path: build {build:.1f} s + run {run:.1f} s "
          f"= {build + run:.1f} s (goal < 60 s); {run / args.rounds * 1e3:.1f} ms per round, "
          f"{run / args.rounds / args.creators * 1e9:.0f} ns per agent-step")

    small, rounds = 10_000, 100
    array = best_of(lambda: build_and_run(small, rounds, "array")[1], repeats=3) / rounds
    agents = best_of(lambda: build_and_run(small, rounds, "agents")[1], repeats=3) / rounds
    print(f"{small:,} creators, per round: array path {array * 1e3:.2f} ms, agent-by-agent {agents * 1e3:.2f} ms "
          f"({agents / small * 1e6:.2f} us per agent-step); arrays are {agents / array:.0f}x faster")


if __name__ == "__main__":
    main()
