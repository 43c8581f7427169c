"""Sweep throughput with 1 and 2 local workers, measured in one run.

Run: ``python3 benchmarks/sweep.py``. The same 80 runs (the curse-of-precision population,
4,000 agents per type, 1,000 rounds) go through the sweep machinery with ``workers=1`` and
``workers=2``; worker start-up is included, as a user would see it.
"""

import tempfile
import time

from abm.simulation.sweep import run_sweep, sweep_from_dict

SPEC = {
    "description": "throughput benchmark",
    "replications": 8,
    "seed": 1,
    "outputs": ["precision_final"],
    "overrides": {"simulation.agents": 4000, "simulation.horizon": 100.0, "simulation.dt": 0.1},
    "parameters": {"rank_and_file.outside_option.exponent": {"low": 1.0, "high": 3.0, "num": 10}},
}


def throughput(workers: int) -> tuple[float, int]:
    spec = sweep_from_dict(SPEC)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_sweep(spec, out, workers=workers, progress=False)
        elapsed = time.perf_counter() - start
    return len(results) / elapsed, len(results)


def main() -> None:
    one, runs = throughput(1)
    two, _ = throughput(2)
    print(f"{runs} runs: 1 worker {one:.2f} runs/s, 2 workers {two:.2f} runs/s; speed-up {two / one:.2f}x "
          "(goal >= 1.8x)")


if __name__ == "__main__":
    main()
