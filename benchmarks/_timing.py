"""Timing helpers shared by the benchmark scripts."""

import statistics
import time


def best_of(function, repeats: int = 5) -> float:
    """Smallest wall-clock time in seconds of ``repeats`` calls of ``function()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


class Timing:
    """Wall-clock and CPU seconds of repeated calls: ``min`` and ``median`` of each.

    On a shared machine the wall clock includes the time other processes held the cores;
    the CPU time (this process's own) does not, so both are kept.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def min(self, clock: str = "wall") -> float:
        return min(getattr(self, clock))

    def median(self, clock: str = "wall") -> float:
        return statistics.median(getattr(self, clock))

    def scaled(self, factor: float) -> "Timing":
        """The same timings times ``factor`` (per round, per creator, ...)."""
        result = Timing()
        result.wall = [w * factor for w in self.wall]
        result.cpu = [c * factor for c in self.cpu]
        return result

    def describe(self, unit: str = "s", factor: float = 1.0, digits: int = 3) -> str:
        """``min / median wall (min / median CPU)``."""
        def fmt(x):
            return f"{x * factor:.{digits}g}"
        return (f"{fmt(self.min())} / {fmt(self.median())} {unit} wall "
                f"({fmt(self.min('cpu'))} / {fmt(self.median('cpu'))} {unit} CPU)")


def timed(function) -> tuple:
    """``(result, wall seconds, CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def ratio(slow: Timing, fast: Timing, clock: str = "wall") -> str:
    """``min / median`` of the ratio of paired runs (repeat ``i`` of one against repeat ``i`` of the other)."""
    pairs = [s / f for s, f in zip(getattr(slow, clock), getattr(fast, clock))]
    return f"{min(pairs):.3g}x / {statistics.median(pairs):.3g}x"
