"""Parameter sweeps: a declared experiment run on a local process pool or a Dask cluster.

A sweep specification (TOML, see ``docs/sweeps.md``) names a base scenario, the parameters
to vary (a grid, a Latin hypercube or a Sobol design over ranges), fixed overrides, the
number of replications, the outputs to keep and one seed. Every run gets its own seed from
one :class:`numpy.random.SeedSequence` and writes one row: its parameters, seed, outputs,
status, error and provenance (package version, git commit). Rows are written to a Parquet
dataset (one file per finished run) as runs finish, so an interrupted sweep resumes where it
stopped and loses nothing.

Nothing hangs, nothing mixes, nothing is lost:

* every design point is validated before any run (a bad value is named, not run);
* ``out/sweep.json`` fingerprints everything that determines a run (the specification, the
  resolved base scenario's contents, the package and dependency versions); ``--resume``
  refuses a changed specification or base scenario, naming what changed, and a change of
  versions unless ``allow_version_change`` (every version a sweep ran under is recorded);
* a folder with run files but no ``sweep.json`` is refused (foreign runs are never adopted);
* one sweep at a time writes into a folder (``fcntl.flock`` on ``out/.lock``); temporary
  files carry the writer's process id;
* workers exit when the sweep process dies (``PR_SET_PDEATHSIG`` on Linux and a watchdog
  thread polling the parent), so a killed sweep leaves no orphans;
* a worker that dies marks its run as failed (``status = "error"``), the pool is restarted
  and the sweep goes on; ``resume=True, retry_failed=True`` runs failed runs again;
* unreadable (truncated) run files are set aside and their runs redone, with a message.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from abm.scenario import default_scenario, load_scenario, scenario_from_dict
from abm.storage import output_dir, read_toml
from abm.theory._validation import describe, require_finite, require_whole

__all__ = ["SweepSpec", "Parameter", "RunRequest", "load_sweep", "sweep_from_dict", "design_points",
           "run_requests", "execute_run", "run_sweep", "read_results", "OUTPUTS", "DESIGNS", "MAX_RUNS",
           "SweepAborted"]

DESIGNS = ("grid", "latin_hypercube", "sobol")
#: Most runs one sweep may have: each writes one Parquet file.
MAX_RUNS = 1_000_000
#: Design points validated one by one before a sweep starts (all of them up to this many;
#: beyond, every parameter value on its own and the first this many points).
MAX_VALIDATED_POINTS = 20_000
#: Consecutive pool breakdowns with no run to blame before the sweep gives up.
MAX_FRUITLESS_RESTARTS = 3


class SweepAborted(RuntimeError):
    """The sweep cannot go on (e.g. workers keep dying); finished runs are kept."""


# --- outputs ----------------------------------------------------------------------------------


def _welfare_gap(result) -> float:
    """Relative shortfall of cumulative trade surplus against the intermediary's on the same agents."""
    from abm.simulation.run import simulate, summarise

    efficient = summarise(simulate(result.scenario.with_regime("intermediary"), fluid=False))["trade_surplus_cumulative"]
    achieved = summarise(result)["trade_surplus_cumulative"]
    return float((efficient - achieved) / abs(efficient)) if efficient != 0 else float("nan")


def _outputs() -> dict:
    """Every output a sweep can keep: the fields of :func:`abm.simulation.run.summarise`, plus
    ``welfare_gap_to_optimum`` (which runs the intermediary on the same agents too)."""
    from abm.simulation.run import SUMMARY_FIELDS

    return {**{name: None for name in SUMMARY_FIELDS}, "welfare_gap_to_optimum": _welfare_gap}


#: Names of the outputs a sweep can keep (see :func:`_outputs`).
OUTPUTS = tuple(_outputs())


def _needs_fluid(outputs) -> bool:
    return any(name.endswith("_fluid") or name.startswith("sup_distance_") for name in outputs)


# --- the specification ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One varied parameter: a dotted path into the scenario and its values or range.

    ``values`` (a list, possibly of tables such as whole outside-option distributions) is
    used by grids; ``low``/``high`` (optionally ``log``) by Latin hypercube and Sobol designs,
    and by grids together with ``num``.
    """

    path: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    num: int | None = None
    log: bool = False

    def grid_values(self) -> list:
        """The values a grid design takes."""
        if self.values:
            return list(self.values)
        if self.num is None:
            raise ValueError(f"parameters.{self.path}: a grid needs 'values' or 'low', 'high' and 'num'")
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, self.num)]
        return [float(v) for v in np.linspace(self.low, self.high, self.num)]

    def grid_size(self) -> int:
        """How many values a grid design takes."""
        return len(self.values) if self.values else (self.num or 0)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range (log-uniformly if ``log``)."""
        if self.low is None or self.high is None:
            raise ValueError(f"parameters.{self.path}: Latin hypercube and Sobol designs need 'low' and 'high'")
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep specification (see :func:`sweep_from_dict` for the keys).

    ``base`` is the resolved base scenario (with the overrides applied) as a scenario-file
    tree: its contents, not the file's name, are what a resumed sweep must find unchanged.
    """

    description: str
    base: dict = field(repr=False)
    parameters: tuple
    design: str = "grid"
    points: int = 0
    replications: int = 1
    seed: int = 0
    outputs: tuple = ("precision_final", "innovator_participation_final", "welfare_cumulative")
    source: dict = field(default_factory=dict, repr=False)

    @property
    def specification_fingerprint(self) -> str:
        """Hash of the specification as written."""
        return _digest(self.source)

    @property
    def base_fingerprint(self) -> str:
        """Hash of the resolved base scenario's contents (after the overrides)."""
        return _digest(self.base)

    @property
    def fingerprint(self) -> str:
        """Hash of the specification and the resolved base scenario; a resumed sweep must have the same."""
        return _digest({"specification": self.source, "base": self.base})

    @property
    def n_runs(self) -> int:
        """Number of runs (design points times replications)."""
        return _n_points(self) * self.replications


def _n_points(spec: SweepSpec) -> int:
    if spec.design == "grid":
        return math.prod(p.grid_size() for p in spec.parameters)
    if spec.design == "latin_hypercube":
        return spec.points
    return spec.points * (len(spec.parameters) + 2)


def _set(tree: dict, path: str, value) -> None:
    keys = path.split(".")
    node = tree
    for key in keys[:-1]:
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"unknown parameter path {path!r}: no {key!r} in the scenario")
        node = node[key]
    if not isinstance(node, dict) or keys[-1] not in node:
        raise ValueError(f"unknown parameter path {path!r}: no {keys[-1]!r} in the scenario")
    node[keys[-1]] = value


_SEED_REFUSAL = ("a sweep's runs take their seeds from the sweep's 'seed' (children of one numpy SeedSequence), "
                 "so simulation.seed would be recorded but ignored; vary 'seed' or 'replications' instead")


def _parameter(path: str, table, design: str) -> Parameter:
    where = f"parameters.{path}"
    if path == "simulation.seed":
        raise ValueError(f"{where}: {_SEED_REFUSAL}")
    if isinstance(table, list):
        table = {"values": table}
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table (values = [...], or low, high and num) or a list of values, "
                         f"got {describe(table)}")
    unknown = set(table) - {"values", "low", "high", "num", "log"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: ['high', 'log', 'low', 'num', 'values']")
    if "values" in table:
        values = table["values"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}.values must be a non-empty list, got {describe(values)}")
        if set(table) & {"low", "high", "num"}:
            raise ValueError(f"{where}: give either 'values' or a range ('low', 'high', 'num'), not both")
        if "log" in table:
            raise ValueError(f"{where}.log is used only with 'low' and 'high', not with 'values'")
        if design != "grid":
            raise ValueError(f"{where}: Latin hypercube and Sobol designs need 'low' and 'high', not 'values'")
        return Parameter(path=path, values=tuple(values))
    if "low" not in table or "high" not in table:
        raise ValueError(f"{where}: needs both 'low' and 'high' with high > low (or a list of 'values')")
    low, high = require_finite(table["low"], f"{where}.low"), require_finite(table["high"], f"{where}.high")
    if not high > low:
        raise ValueError(f"{where}: needs both 'low' and 'high' with high > low, got low={low}, high={high}")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{where}.log must be true or false, got {describe(log)}")
    if log and low <= 0:
        raise ValueError(f"{where}: a log range needs low > 0, got low={low}")
    num = None
    if "num" in table:
        if design != "grid":
            raise ValueError(f"{where}.num is not used by a {design} design (its size is 'points')")
        num = require_whole(table["num"], f"{where}.num", minimum=2)
    elif design == "grid":
        raise ValueError(f"{where}: a grid needs 'values' or 'low', 'high' and 'num'")
    return Parameter(path=path, low=low, high=high, num=num, log=log)


def _outputs_of(data: dict) -> tuple:
    if "outputs" not in data:
        return SweepSpec.outputs
    outputs = data["outputs"]
    if not isinstance(outputs, list):
        raise ValueError(f"sweep.outputs must be a list of output names, got {describe(outputs)}")
    if not outputs:
        raise ValueError("sweep.outputs must name at least one output")
    missing = [name for name in outputs if name not in OUTPUTS]
    if missing:
        raise ValueError(f"sweep.outputs: unknown output(s) {missing}; known: {sorted(OUTPUTS)}")
    repeated = sorted({name for name in outputs if outputs.count(name) > 1})
    if repeated:
        raise ValueError(f"sweep.outputs lists {', '.join(map(repr, repeated))} more than once")
    return tuple(outputs)


def _base_tree(data: dict, base_dir: Path) -> dict:
    base_name = data.get("base", "default")
    if not isinstance(base_name, str) or not base_name.strip():
        raise ValueError(f"sweep.base must be a scenario file name (relative to the specification) or \"default\", "
                         f"got {describe(base_name)}")
    scenario = default_scenario() if base_name == "default" else load_scenario(Path(base_dir) / base_name)
    base = scenario.to_dict()
    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise ValueError(f"sweep.overrides must be a table of 'path = value', got {describe(overrides)}")
    for path, value in overrides.items():
        if path == "simulation.seed":
            raise ValueError(f"sweep.overrides: simulation.seed: {_SEED_REFUSAL}")
        try:
            _set(base, path, value)
        except ValueError as error:
            raise ValueError(f"sweep.overrides: {error}") from None
    try:
        scenario_from_dict(copy.deepcopy(base))
    except ValueError as error:
        raise ValueError(f"sweep.overrides give an invalid scenario: {error}") from None
    return base


def sweep_from_dict(data: dict, base_dir: Path = Path(".")) -> SweepSpec:
    """Validate a sweep specification, every design point included, before any run.

    Keys: ``description``; ``base`` (a scenario file, relative to the spec, or ``"default"``);
    ``design`` (``grid``, ``latin_hypercube`` or ``sobol``); ``points`` (Latin hypercube: the
    number of points; Sobol: the base sample size N, giving ``N (D + 2)`` points; not used by
    grids); ``replications``; ``seed``; ``outputs`` (names in :data:`OUTPUTS`);
    ``[overrides]`` (fixed ``path = value`` changes); ``[parameters.<path>]`` (``values`` or
    ``low``/``high``/``num``/``log``). ``simulation.seed`` can be neither overridden nor
    varied: every run's seed is a child of the sweep's ``seed``. A sweep has at most
    :data:`MAX_RUNS` runs.

    Raises
    ------
    ValueError
        Naming the unknown or invalid key, or the design point and value that give an
        invalid scenario.
    """
    if not isinstance(data, dict):
        raise ValueError(f"sweep must be a table (a dict of the specification's keys), got {describe(data)}")
    allowed = {"description", "base", "design", "points", "replications", "seed", "outputs", "overrides",
               "parameters"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"sweep: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"sweep.description must be a non-empty string, got {describe(description)}")
    design = data.get("design", "grid")
    if not isinstance(design, str) or design not in DESIGNS:
        raise ValueError(f"sweep.design must be one of {DESIGNS}, got {design!r}")
    if design == "grid":
        if "points" in data:
            raise ValueError("sweep.points is not used by a grid design (its size comes from each parameter's "
                             "values or num)")
        points = 0
    else:
        if "points" not in data:
            raise ValueError(f"sweep.points must be >= 1 for a {design} design (it is missing)")
        points = require_whole(data["points"], "sweep.points", minimum=1)
    replications = require_whole(data.get("replications", 1), "sweep.replications", minimum=1)
    seed = require_whole(data.get("seed", 0), "sweep.seed", minimum=0)
    outputs = _outputs_of(data)
    base = _base_tree(data, base_dir)
    table = data.get("parameters", {})
    if not isinstance(table, dict):
        raise ValueError(f"sweep.parameters must be a table of [parameters.<path>] entries, got {describe(table)}")
    if not table:
        raise ValueError("sweep: at least one entry under [parameters] is required")
    parameters = tuple(_parameter(path, entry, design) for path, entry in table.items())
    for parameter in parameters:
        _set(copy.deepcopy(base), parameter.path, None)
    spec = SweepSpec(description=description, base=base, parameters=parameters, design=design, points=points,
                     replications=replications, seed=seed, outputs=outputs, source=data)
    if spec.n_runs > MAX_RUNS:
        raise ValueError(f"the sweep has {spec.n_runs} runs ({_n_points(spec)} design points x {replications} "
                         f"replications); a sweep may have at most {MAX_RUNS} (one Parquet file each): "
                         "split it or use fewer points")
    _validate_points(spec)
    return spec


def _validate_point(base: dict, parameters: dict) -> None:
    tree = copy.deepcopy(base)
    for path, value in parameters.items():
        _set(tree, path, value)
    try:
        scenario_from_dict(tree)
    except ValueError as error:
        where = ", ".join(f"{path} = {value!r}" for path, value in parameters.items())
        raise ValueError(f"design point {where}: {error}") from None


def _validate_points(spec: SweepSpec) -> None:
    """Every parameter value, and every design point up to :data:`MAX_VALIDATED_POINTS`,
    must give a valid scenario (types, ranges, relations such as dt <= horizon, memory)."""
    if spec.design == "grid":
        for parameter in spec.parameters:
            for value in parameter.grid_values():
                _validate_point(spec.base, {parameter.path: value})
    else:
        for parameter in spec.parameters:
            for value in (parameter.low, parameter.high):
                _validate_point(spec.base, {parameter.path: value})
    if len(spec.parameters) > 1 or spec.design != "grid":
        import warnings

        with warnings.catch_warnings():  # SALib's "N should be a power of 2" comes again when the sweep runs
            warnings.simplefilter("ignore", UserWarning)
            points = list(itertools.islice(_iter_points(spec), MAX_VALIDATED_POINTS))
        for point in points:
            _validate_point(spec.base, point)


def load_sweep(path) -> SweepSpec:
    """Read and validate a sweep specification file."""
    path = Path(path)
    data = read_toml(path, "sweep specification")
    try:
        return sweep_from_dict(data, path.parent)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None


# --- designs and runs ---------------------------------------------------------------------------


def _iter_points(spec: SweepSpec):
    if spec.design == "grid":
        combos = itertools.product(*(p.grid_values() for p in spec.parameters))
        yield from (dict(zip((p.path for p in spec.parameters), combo)) for combo in combos)
        return
    if spec.design == "latin_hypercube":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(spec.parameters), seed=np.random.default_rng(spec.seed)).random(spec.points)
    else:
        from SALib.sample import sobol as sobol_sample

        unit = sobol_sample.sample(sobol_problem(spec, unit_ranges=True), spec.points, calc_second_order=False,
                                   seed=spec.seed)
    columns = [p.from_unit(unit[:, j]) for j, p in enumerate(spec.parameters)]
    yield from ({p.path: float(col[i]) for p, col in zip(spec.parameters, columns)} for i in range(len(unit)))


def design_points(spec: SweepSpec) -> list[dict]:
    """Every parameter combination of the design, in a fixed order."""
    return list(_iter_points(spec))


def sobol_problem(spec: SweepSpec, unit_ranges: bool = False) -> dict:
    """The SALib problem definition of a Sobol sweep."""
    return {"num_vars": len(spec.parameters), "names": [p.path for p in spec.parameters],
            "bounds": [[0.0, 1.0] if unit_ranges else [p.low, p.high] for p in spec.parameters]}


@dataclass(frozen=True)
class RunRequest:
    """One run of a sweep: design point, replication, parameters and seed."""

    run_id: int
    point: int
    replication: int
    parameters: dict
    seed: int


def run_requests(spec: SweepSpec) -> list[RunRequest]:
    """All runs; seeds are the children of ``SeedSequence(spec.seed)`` in run order."""
    points = design_points(spec)
    children = np.random.SeedSequence(spec.seed).spawn(len(points) * spec.replications)
    requests = []
    for point, parameters in enumerate(points):
        for replication in range(spec.replications):
            run_id = point * spec.replications + replication
            seed = int(children[run_id].generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
            requests.append(RunRequest(run_id, point, replication, parameters, seed))
    return requests


def _base_row(request: RunRequest) -> dict:
    row = {"run_id": request.run_id, "point": request.point, "replication": request.replication,
           "seed": request.seed}
    row.update({f"param:{k}": _scalar(v) for k, v in request.parameters.items()})
    return row


def execute_run(base: dict, request: RunRequest, outputs: tuple) -> dict:
    """Run one request and return its row; an exception becomes ``status = "error"``.

    A top-level function so process pools and Dask workers can pickle it.
    """
    from abm.simulation.run import simulate, summarise

    row = _base_row(request)
    started = time.perf_counter()
    try:
        tree = copy.deepcopy(base)
        for path, value in request.parameters.items():
            _set(tree, path, value)
        result = simulate(scenario_from_dict(tree), seed=request.seed, fluid=_needs_fluid(outputs))
        summary, special = summarise(result), _outputs()
        row.update({name: special[name](result) if special[name] else summary[name] for name in outputs})
        row.update(status="ok", error="")
    except Exception as error:  # noqa: BLE001 - a failing run is recorded, not fatal
        row.update({name: float("nan") for name in outputs})
        row.update(status="error", error=f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}")
    row["seconds"] = time.perf_counter() - started
    return row


def _failed_row(request: RunRequest, outputs: tuple, error: str) -> dict:
    row = _base_row(request)
    row.update({name: float("nan") for name in outputs})
    row.update(status="error", error=error, seconds=float("nan"))
    return row


def _scalar(value):
    """Parameters that are tables (e.g. a distribution) are stored as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


# --- workers that die with their parent ----------------------------------------------------------


def _worker_init(parent_pid: int) -> None:
    """Initializer of every local worker: exit when the sweep process dies.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill the worker when its
    parent dies; everywhere a daemon thread polls the parent's pid twice a second. Ctrl-C is
    left to the parent, which stops the workers itself.
    """
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="abm-sweep-parent-watchdog", daemon=True).start()


def _run_in_worker(base: dict, request: RunRequest, outputs: tuple, inflight: str) -> dict:
    """:func:`execute_run` in a pool worker, leaving ``inflight/<pid>`` (the run's id) while it
    runs, so a worker that dies can be matched to its run."""
    marker = Path(inflight) / str(os.getpid())
    try:
        marker.write_text(str(request.run_id))
    except OSError:
        pass
    try:
        return execute_run(base, request, outputs)
    finally:
        try:
            marker.unlink()
        except OSError:
            pass


def _how_it_died(exitcode) -> str:
    import signal

    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory, or killed by hand)" if -exitcode == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {exitcode}"


def _terminate(pool) -> None:
    """Stop a process pool now: cancel what is queued and kill its workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.kill()
        except (OSError, AttributeError, ValueError):
            pass
    for process in processes:
        try:
            process.join(timeout=5)
        except (OSError, AttributeError, ValueError, AssertionError):
            pass


def _worker_context(multiprocessing):
    """How local workers start: ``fork`` on Linux when this process runs no other thread (the
    workers inherit the imported package: no ~2 s of imports per worker), else ``spawn``
    (fresh interpreters, safe whatever threads run here: a progress bar's monitor, Dask)."""
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _pool_rows(spec: SweepSpec, pending: list, workers: int, inflight: Path):
    """Yield rows from a local process pool; a worker that dies fails its run, and the pool is
    restarted for the rest."""
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    queue = {request.run_id: request for request in pending}
    fruitless = 0
    while queue:
        inflight.mkdir(parents=True, exist_ok=True)
        for stale in inflight.iterdir():
            stale.unlink(missing_ok=True)
        pool = ProcessPoolExecutor(max_workers=min(workers, len(queue)), mp_context=_worker_context(multiprocessing),
                                   initializer=_worker_init, initargs=(os.getpid(),))
        futures = {pool.submit(_run_in_worker, spec.base, request, spec.outputs, str(inflight)): request
                   for request in queue.values()}
        broken, finished = False, False
        try:
            for future in as_completed(futures):
                try:
                    row = future.result()
                except BrokenProcessPool:
                    broken = True
                    break
                del queue[futures[future].run_id]
                fruitless = 0
                yield row
            if broken:
                # Rows that finished before the breakdown are kept; the dead worker's run fails.
                for future, request in futures.items():
                    if request.run_id in queue and future.done() and not future.cancelled() \
                            and future.exception() is None:
                        del queue[request.run_id]
                        yield future.result()
                # The pool saw a worker's pipe close; its exit status may lag a moment, and the
                # executor is terminating the others (SIGTERM): wait until every one has one.
                processes = dict(getattr(pool, "_processes", None) or {})
                deadline = time.monotonic() + 5.0
                while any(p.exitcode is None for p in processes.values()) and time.monotonic() < deadline:
                    time.sleep(0.02)
                exitcodes = {pid: process.exitcode for pid, process in processes.items()}
                blamed = {}
                for marker in inflight.iterdir():
                    try:
                        pid, run_id = int(marker.name), int(marker.read_text())
                    except (ValueError, OSError):
                        continue
                    code = exitcodes.get(pid)
                    if code is not None and code != -signal.SIGTERM and run_id in queue:
                        blamed[run_id] = (pid, code)
                for run_id, (pid, code) in sorted(blamed.items()):
                    request = queue.pop(run_id)
                    yield _failed_row(request, spec.outputs,
                                      f"WorkerDied: the worker process {pid} running this run died "
                                      f"({_how_it_died(code)}); the pool was restarted and the sweep went on. "
                                      "Run it again with --resume --retry-failed.")
                fruitless = 0 if blamed else fruitless + 1
                if fruitless >= MAX_FRUITLESS_RESTARTS:
                    raise SweepAborted(f"the worker pool broke {fruitless} times in a row without a run to blame "
                                       f"({len(queue)} runs left); finished runs are kept: continue with --resume")
            finished = not broken
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # broken, interrupted or abandoned: stop the workers now
                _terminate(pool)


def _client(scheduler: str, timeout: float):
    """A ``distributed.Client`` for ``scheduler``, or a ``ValueError`` saying it did not answer."""
    import logging

    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its own retries are noise here
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ValueError(f"--scheduler {scheduler} did not answer within {timeout:g} s: is a dask scheduler "
                         f"running there? ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
                         ) from None


def _dask_rows(spec: SweepSpec, pending: list, client):
    from distributed import as_completed

    futures = {client.submit(execute_run, spec.base, r, spec.outputs, pure=False): r for r in pending}
    try:
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # noqa: BLE001 - e.g. KilledWorker: the run fails, the sweep goes on
                yield _failed_row(futures[future], spec.outputs, f"{type(error).__name__}: {error}")
    finally:
        client.cancel(list(futures))


def _execute(spec: SweepSpec, pending: list[RunRequest], workers: int, client=None, inflight: Path | None = None):
    """Yield rows as runs finish, from a Dask cluster, a process pool, or this process."""
    if not pending:
        return
    if client is not None:
        yield from _dask_rows(spec, pending, client)
        return
    if workers <= 1:
        for request in pending:
            yield execute_run(spec.base, request, spec.outputs)
        return
    yield from _pool_rows(spec, pending, workers, inflight)


# --- the dataset on disk --------------------------------------------------------------------------


_RUN_FILE = re.compile(r"^run-(\d+)\.parquet$")


def _run_files(out: Path) -> list[Path]:
    runs = Path(out) / "runs"
    return sorted(p for p in runs.glob("run-*.parquet") if _RUN_FILE.match(p.name)) if runs.is_dir() else []


def _scan(out: Path) -> tuple[list[pd.DataFrame], list[tuple[Path, str]]]:
    """The readable run files' rows, and the unreadable files with the reason."""
    frames, unreadable = [], []
    for path in _run_files(out):
        try:
            frame = pd.read_parquet(path)
            if len(frame) != 1 or "run_id" not in frame or int(frame["run_id"].iloc[0]) != int(
                    _RUN_FILE.match(path.name).group(1)):
                raise ValueError("not one row of this run")
        except Exception as error:  # noqa: BLE001 - truncated or corrupt: any reader error
            unreadable.append((path, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
            continue
        frames.append(frame)
    return frames, unreadable


def read_results(out) -> pd.DataFrame:
    """All rows written so far to the sweep's dataset directory ``out/runs``.

    Raises
    ------
    ValueError
        Naming any run file that cannot be read (``abm sweep --resume`` redoes those runs).
    """
    frames, unreadable = _scan(Path(out))
    if unreadable:
        names = ", ".join(f"{path.name} ({reason})" for path, reason in unreadable[:5])
        raise ValueError(f"{len(unreadable)} run file(s) in {Path(out) / 'runs'} cannot be read: {names}; "
                         "run the sweep again with --resume to redo those runs")
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).sort_values("run_id", ignore_index=True)


def _atomic_write(target: Path, write) -> None:
    """``write(temporary)`` then rename onto ``target``: a file is either whole or absent.
    The temporary name carries this process's id, so two writers never share one."""
    temporary = target.with_name(f"{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        write(temporary)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def _write_row(out: Path, row: dict) -> None:
    target = out / "runs" / f"run-{row['run_id']:07d}.parquet"
    _atomic_write(target, lambda path: pd.DataFrame([row]).to_parquet(path, index=False))


def _say(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr, flush=True)


#: Lock files this process holds open (:class:`_Lock`).
_HELD_LOCKS: set = set()


def _close_held_locks() -> None:
    """In a forked child: close the inherited lock files, so that the lock stays with the sweep
    process alone (a ``flock`` lasts while any descriptor of its open file is open: a forked
    worker outliving a killed sweep would otherwise keep the folder locked)."""
    for handle in list(_HELD_LOCKS):
        handle.close()
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_locks)


class _Lock:
    """``fcntl.flock`` on ``out/.lock``: one sweep at a time writes into a folder."""

    def __init__(self, out: Path) -> None:
        self.path, self.handle = out / ".lock", None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "unknown"
            self.handle.close()
            self.handle = None
            raise FileExistsError(f"another sweep (process {holder}) is writing into {self.path.parent}; "
                                  "wait for it to finish (then --resume) or choose another --out") from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(str(os.getpid()))
        self.handle.flush()
        _HELD_LOCKS.add(self.handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            _HELD_LOCKS.discard(self.handle)
            self.handle.close()  # closing releases the lock


def _tree_changes(old, new, prefix: str = "") -> list[str]:
    """``path: old -> new`` for every leaf that differs between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                changes.append(f"{path} added ({new[key]!r})")
            elif key not in new:
                changes.append(f"{path} removed (was {old[key]!r})")
            else:
                changes += _tree_changes(old[key], new[key], path)
        return changes
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def _identity(spec: SweepSpec) -> dict:
    return {"fingerprint": spec.fingerprint, "specification_fingerprint": spec.specification_fingerprint,
            "base_fingerprint": spec.base_fingerprint}


def _check_manifest(recorded: dict, spec: SweepSpec, out: Path, current: dict, allow_version_change: bool) -> None:
    """Refuse to resume into ``out`` when anything that determines a run changed."""
    json_spec = json.loads(json.dumps(spec.source, default=str))
    json_base = json.loads(json.dumps(spec.base, default=str))
    if recorded.get("specification_fingerprint", recorded.get("fingerprint")) != spec.specification_fingerprint:
        changes = _tree_changes(recorded.get("specification", {}), json_spec)
        raise ValueError(f"{out} holds a different sweep (fingerprint {recorded.get('fingerprint')}): the sweep "
                         f"specification changed since it started ({'; '.join(changes[:8]) or 'see sweep.json'}); "
                         "use another --out")
    if recorded.get("base_fingerprint") != spec.base_fingerprint:
        changes = _tree_changes(recorded.get("base_scenario", {}), json_base)
        raise ValueError(f"{out} holds a different sweep: the base scenario "
                         f"({spec.source.get('base', 'default')}) changed since the sweep started "
                         f"({'; '.join(changes[:8]) or 'see sweep.json'}); finishing it would mix two experiments: "
                         "restore the scenario file or use another --out")
    history = recorded.get("runs_under") or []
    if history and history[-1].get("versions") != current["versions"] and not allow_version_change:
        before = history[-1].get("versions", {})
        changes = [f"{name} {before.get(name)} -> {version}" for name, version in current["versions"].items()
                   if before.get(name) != version]
        raise ValueError(f"the sweep in {out} ran under other versions ({'; '.join(changes)}): its results would "
                         "mix versions; pass --allow-version-change to continue anyway (sweep.json records "
                         "every version a sweep ran under)")


def _prepare(spec: SweepSpec, out: Path, resume: bool, retry_failed: bool = False,
             allow_version_change: bool = False) -> tuple[dict, dict]:
    """Check ``out`` (under the lock) and write the manifest; return ``(done, provenance)``:
    the finished rows by run id (``ok`` ones, and failed ones unless ``retry_failed``)."""
    from abm.storage import provenance

    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    for stale in list(runs.glob("*.tmp")) + list(out.glob("*.tmp")):  # left by a killed writer
        stale.unlink(missing_ok=True)
    manifest = out / "sweep.json"
    files = _run_files(out)
    if files and not manifest.exists():
        raise FileExistsError(f"{out} holds {len(files)} run files but no sweep.json: they are not from a sweep "
                              "this program can check (foreign runs, or a deleted manifest), so they are not "
                              "adopted; choose another --out")
    current = provenance()
    recorded: dict = {}
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
            if not isinstance(recorded, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            raise ValueError(f"{manifest} cannot be read ({error}); choose another --out") from None
        _check_manifest(recorded, spec, out, current, allow_version_change and resume)
        if files and not resume:
            raise ValueError(f"{out} already holds {len(files)} runs of this sweep: pass --resume to continue")
    frames, unreadable = _scan(out)
    if unreadable:
        for path, _ in unreadable:
            path.replace(path.with_name(path.name + ".unreadable"))
        ids = [int(_RUN_FILE.match(path.name).group(1)) for path, _ in unreadable]
        _say(f"{len(unreadable)} run file(s) could not be read ({unreadable[0][1]}); runs {ids[:20]} will be redone "
             f"(the files were kept as runs/*.parquet.unreadable)")
    requests = {r.run_id: r for r in run_requests(spec)}
    done = {}
    for frame in frames:
        row = frame.iloc[0]
        run_id = int(row["run_id"])
        if run_id not in requests or int(row["seed"]) != requests[run_id].seed:
            raise ValueError(f"{out}/runs/run-{run_id:07d}.parquet is not a run of this sweep (run id or seed "
                             "differs); choose another --out")
        if row.get("status") == "ok" or not retry_failed:
            done[run_id] = row
    if retry_failed:
        failed = sum(1 for frame in frames if frame["status"].iloc[0] != "ok")
        if failed:
            _say(f"retrying {failed} failed run(s)")
    history = list(recorded.get("runs_under") or [])
    history.append({**current, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed": bool(recorded),
                    "pid": os.getpid()})
    document = {**_identity(spec), "specification": spec.source, "base_scenario": spec.base,
                **current, "runs_under": history}
    _atomic_write(manifest, lambda path: path.write_text(json.dumps(document, indent=2, default=str) + "\n"))
    return done, current


def _check_arguments(spec, workers, scheduler, scheduler_timeout, resume, retry_failed, allow_version_change) -> int:
    if not isinstance(spec, SweepSpec):
        raise ValueError(f"spec must be a SweepSpec (see load_sweep and sweep_from_dict), got {type(spec).__name__}")
    if retry_failed and not resume:
        raise ValueError("retry_failed (--retry-failed) is only used with resume (--resume)")
    if allow_version_change and not resume:
        raise ValueError("allow_version_change (--allow-version-change) is only used with resume (--resume)")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not re.fullmatch(r"[a-z][a-z0-9+]*://[^\s/:]+:\d+/?", scheduler):
            raise ValueError(f"--scheduler must be a dask scheduler address like tcp://HOST:PORT, got {scheduler!r}")
        require_finite(scheduler_timeout, "--scheduler-timeout")
        if not scheduler_timeout > 0:
            raise ValueError(f"--scheduler-timeout must be > 0 seconds, got {scheduler_timeout!r}")
        return 1
    workers = require_whole(workers, "workers", minimum=1)
    limit = 8 * (os.cpu_count() or 1)
    if workers > limit:
        raise ValueError(f"workers must be at most {limit} (--workers: 8 per CPU of this machine), got {workers}")
    return workers


def run_sweep(spec: SweepSpec, out, *, resume: bool = False, workers: int = 2, scheduler: str | None = None,
              progress: bool = True, retry_failed: bool = False, allow_version_change: bool = False,
              scheduler_timeout: float = 10.0) -> pd.DataFrame:
    """Run every pending run of ``spec``, writing each row as it finishes; return all rows.

    Parameters
    ----------
    spec : SweepSpec
    out : path
        Dataset directory (``out/runs/*.parquet``, ``out/sweep.json``, ``out/results.parquet``).
    resume : bool
        Continue a sweep already in ``out`` (its finished runs are skipped).
    workers : int
        Processes of the local pool (not used with ``scheduler``).
    scheduler : str, optional
        Address ``tcp://host:port`` of a running ``dask.distributed`` scheduler.
    progress : bool
        Show a progress bar (runs done, time left).
    retry_failed : bool
        With ``resume``: run the failed runs (``status = "error"``) again.
    allow_version_change : bool
        With ``resume``: continue although the package or dependency versions changed
        (``sweep.json`` records every version the sweep ran under).
    scheduler_timeout : float
        Seconds to wait for the Dask scheduler to answer.

    Raises
    ------
    ValueError
        For bad arguments, an output folder holding another sweep (or changed inputs, or
        other versions), or a scheduler that does not answer.
    FileExistsError
        When another sweep is writing into ``out``, or ``out`` holds run files without a manifest.
    SweepAborted
        When worker processes keep dying with no run to blame (finished runs are kept).
    """
    workers = _check_arguments(spec, workers, scheduler, scheduler_timeout, resume, retry_failed,
                               allow_version_change)
    out = output_dir(out)
    client = _client(scheduler, scheduler_timeout) if scheduler else None
    try:
        out.mkdir(parents=True, exist_ok=True)
        with _Lock(out):
            done, current = _prepare(spec, out, resume, retry_failed, allow_version_change)
            pending = [r for r in run_requests(spec) if r.run_id not in done]
            stamp = {"abm_version": current["versions"]["abm"], "commit": current.get("commit", "")}
            died = 0
            bar = None
            if progress:
                from tqdm.auto import tqdm

                class Bar(tqdm):
                    monitor_interval = 0  # no monitor thread: the workers can start by fork

                bar = Bar(total=len(done) + len(pending), initial=len(done), desc="sweep", unit="run")
            try:
                for row in _execute(spec, pending, workers, client, out / ".inflight"):
                    _write_row(out, {**row, **stamp})
                    died += row["status"] == "error" and row["error"].startswith("WorkerDied")
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
            if died:
                _say(f"{died} run(s) failed because their worker process died; run the sweep again with "
                     "--resume --retry-failed to retry them")
            results = read_results(out)
            from abm.storage import write_parquet

            _atomic_write(out / "results.parquet",
                          lambda path: write_parquet(results, path, {"job": "sweep", **_identity(spec),
                                                                      "specification": spec.source}))
            return results
    finally:
        if client is not None:
            client.close()
