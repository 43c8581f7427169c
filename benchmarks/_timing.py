"""Timing helper shared by the benchmark scripts."""

import time


def best_of(function, repeats: int = 5) -> float:
    """Smallest wall-clock time in seconds of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
