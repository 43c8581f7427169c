"""Sweep throughput with 1 and 2 local workers, measured side by side in one run.

Run: ``python3 benchmarks/sweep.py [--repeats 3]``. The same 80 runs (the curse-of-precision
population, 4,000 agents per type, 1,000 rounds) go through the sweep machinery with
``workers=1`` and ``workers=2``, repeats interleaved; worker start-up is included, as a
user would see it. Each measurement reports the wall clock and the CPU time of this
process and its (reaped) workers, so that on a shared machine one can tell a slow run
from a starved one. The BLAS libraries' thread pools are reported too: a simulator run
that woke a second BLAS thread would show CPU time above wall time with one worker.
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import Timing, ratio  # noqa: E402

from abm.simulation.sweep import run_sweep, sweep_from_dict  # noqa: E402

SPEC = {
    "description": "throughput benchmark",
    "replications": 8,
    "seed": 1,
    "outputs": ["precision_final"],
    "overrides": {"simulation.agents": 4000, "simulation.horizon": 100.0, "simulation.dt": 0.1},
    "parameters": {"rank_and_file.outside_option.exponent": {"low": 1.0, "high": 3.0, "num": 10}},
}


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sweep_once(workers: int) -> tuple[int, float, float]:
    """``(runs, wall seconds, CPU seconds)`` of the benchmark sweep with ``workers`` workers."""
    spec = sweep_from_dict(SPEC)
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), cpu_seconds()
        results = run_sweep(spec, out, workers=workers, progress=False)
        return len(results), time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:  # threadpoolctl is not a dependency of the package
        from threadpoolctl import threadpool_info

        print("BLAS thread pools:", ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                                             for i in threadpool_info()))
    except ImportError:
        pass
    timings = {1: Timing(), 2: Timing()}
    runs = 0
    for _ in range(args.repeats):
        for workers, timing in timings.items():
            runs, wall, cpu = sweep_once(workers)
            timing.add(wall, cpu)
    for workers, timing in timings.items():
        rates = sorted(runs / w for w in timing.wall)
        print(f"{workers} worker{'s' if workers > 1 else ''}: {timing.describe('s')}; "
              f"{max(rates):.2f} / {statistics.median(rates):.2f} runs/s (best / median); "
              f"CPU / wall {statistics.median(c / w for c, w in zip(timing.cpu, timing.wall)):.2f}")
    print(f"{runs} runs, speed-up of 2 workers over 1 (paired repeats, min / median): "
          f"{ratio(timings[1], timings[2])} wall (goal >= 1.8x); CPU spent 2 workers / 1: "
          f"{ratio(timings[2], timings[1], 'cpu')}")


if __name__ == "__main__":
    main()
