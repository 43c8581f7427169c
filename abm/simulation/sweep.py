"""Parameter sweeps: a declared experiment run on a local process pool or a Dask cluster.

A sweep specification (TOML, see ``docs/sweeps.md``) names a base scenario, the parameters
to vary (a grid, a Latin hypercube or a Sobol design over ranges), fixed overrides, the
number of replications, the outputs to keep and one seed. Every run gets its own seed from
one :class:`numpy.random.SeedSequence` and writes one row: its parameters, seed, outputs,
status and error. Rows are written to a Parquet dataset (one file per finished run) as
runs finish, so an interrupted sweep resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from abm.storage import read_toml
from abm.scenario import default_scenario, load_scenario, scenario_from_dict

__all__ = ["SweepSpec", "Parameter", "RunRequest", "load_sweep", "sweep_from_dict", "design_points",
           "run_requests", "execute_run", "run_sweep", "read_results", "OUTPUTS", "DESIGNS"]

DESIGNS = ("grid", "latin_hypercube", "sobol")


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
            raise ValueError(f"parameter {self.path!r}: a grid needs 'values' or 'low', 'high' and 'num'")
        if self.log:
            return list(np.geomspace(self.low, self.high, self.num))
        return list(np.linspace(self.low, self.high, self.num))

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1] onto the range (log-uniformly if ``log``)."""
        if self.low is None or self.high is None:
            raise ValueError(f"parameter {self.path!r}: Latin hypercube and Sobol designs need 'low' and 'high'")
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep specification (see :func:`sweep_from_dict` for the keys)."""

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
    def fingerprint(self) -> str:
        """Hash of the specification; a resumed sweep must have the same one."""
        return hashlib.sha256(json.dumps(self.source, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def _parameter(path: str, table) -> Parameter:
    if not isinstance(table, dict):
        table = {"values": table}
    unknown = set(table) - {"values", "low", "high", "num", "log"}
    if unknown:
        raise ValueError(f"parameters.{path}: unknown key(s) {sorted(unknown)}")
    low, high = table.get("low"), table.get("high")
    if (low is None) != (high is None) or (low is not None and not high > low):
        raise ValueError(f"parameters.{path}: needs both 'low' and 'high' with high > low")
    if table.get("log") and low is not None and low <= 0:
        raise ValueError(f"parameters.{path}: a log range needs low > 0")
    return Parameter(path=path, values=tuple(table.get("values", ())), low=low, high=high,
                     num=table.get("num"), log=bool(table.get("log", False)))


def sweep_from_dict(data: dict, base_dir: Path = Path(".")) -> SweepSpec:
    """Validate a sweep specification.

    Keys: ``description``; ``base`` (a scenario file, relative to the spec, or ``"default"``);
    ``design`` (``grid``, ``latin_hypercube`` or ``sobol``); ``points`` (Latin hypercube: the
    number of points; Sobol: the base sample size N, giving ``N (D + 2)`` points);
    ``replications``; ``seed``; ``outputs`` (names in :data:`OUTPUTS`); ``[overrides]``
    (fixed ``path = value`` changes); ``[parameters.<path>]`` (``values`` or
    ``low``/``high``/``num``/``log``).

    Raises
    ------
    ValueError
        Naming the unknown or invalid key.
    """
    allowed = {"description", "base", "design", "points", "replications", "seed", "outputs", "overrides",
               "parameters"}
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"sweep: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if not str(data.get("description", "")).strip():
        raise ValueError("sweep: 'description' is required")
    base_name = data.get("base", "default")
    scenario = default_scenario() if base_name == "default" else load_scenario(base_dir / base_name)
    base = scenario.to_dict()
    for path, value in data.get("overrides", {}).items():
        _set(base, path, value)
    scenario_from_dict(copy.deepcopy(base))  # overrides must give a valid scenario
    parameters = tuple(_parameter(path, table) for path, table in data.get("parameters", {}).items())
    if not parameters:
        raise ValueError("sweep: at least one entry under [parameters] is required")
    for parameter in parameters:
        _set(copy.deepcopy(base), parameter.path, None)
    design = data.get("design", "grid")
    if design not in DESIGNS:
        raise ValueError(f"sweep.design must be one of {DESIGNS}, got {design!r}")
    points = int(data.get("points", 0))
    if design != "grid" and points < 1:
        raise ValueError(f"sweep.points must be >= 1 for a {design} design")
    replications = int(data.get("replications", 1))
    if replications < 1:
        raise ValueError(f"sweep.replications must be >= 1, got {replications}")
    outputs = tuple(data.get("outputs", SweepSpec.outputs))
    missing = [name for name in outputs if name not in OUTPUTS]
    if missing:
        raise ValueError(f"sweep.outputs: unknown output(s) {missing}; known: {sorted(OUTPUTS)}")
    seed = int(data.get("seed", 0))
    if seed < 0:
        raise ValueError(f"sweep.seed must be >= 0, got {seed}")
    return SweepSpec(description=str(data["description"]), base=base, parameters=parameters, design=design,
                     points=points, replications=replications, seed=seed, outputs=outputs, source=data)


def load_sweep(path) -> SweepSpec:
    """Read and validate a sweep specification file."""
    path = Path(path)
    data = read_toml(path, "sweep specification")
    try:
        return sweep_from_dict(data, path.parent)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


# --- designs and runs ---------------------------------------------------------------------------


def design_points(spec: SweepSpec) -> list[dict]:
    """Every parameter combination of the design, in a fixed order."""
    if spec.design == "grid":
        combos = itertools.product(*(p.grid_values() for p in spec.parameters))
        return [dict(zip((p.path for p in spec.parameters), combo)) for combo in combos]
    if spec.design == "latin_hypercube":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(spec.parameters), seed=np.random.default_rng(spec.seed)).random(spec.points)
    else:
        from SALib.sample import sobol as sobol_sample

        unit = sobol_sample.sample(sobol_problem(spec, unit_ranges=True), spec.points, calc_second_order=False,
                                   seed=spec.seed)
    columns = [p.from_unit(unit[:, j]) for j, p in enumerate(spec.parameters)]
    return [{p.path: float(col[i]) for p, col in zip(spec.parameters, columns)} for i in range(len(unit))]


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


def execute_run(base: dict, request: RunRequest, outputs: tuple) -> dict:
    """Run one request and return its row; an exception becomes ``status = "error"``.

    A top-level function so process pools and Dask workers can pickle it.
    """
    from abm.simulation.run import simulate, summarise

    row = {"run_id": request.run_id, "point": request.point, "replication": request.replication,
           "seed": request.seed}
    row.update({f"param:{k}": _scalar(v) for k, v in request.parameters.items()})
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


def _scalar(value):
    """Parameters that are tables (e.g. a distribution) are stored as JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


# --- running and storing ------------------------------------------------------------------------


def read_results(out) -> pd.DataFrame:
    """All rows written so far to the sweep's dataset directory ``out/runs``."""
    parts = sorted((Path(out) / "runs").glob("*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True).sort_values("run_id",
                                                                                        ignore_index=True)


def _write_row(out: Path, row: dict) -> None:
    target = out / "runs" / f"run-{row['run_id']:07d}.parquet"
    temporary = target.with_suffix(".tmp")
    pd.DataFrame([row]).to_parquet(temporary, index=False)
    temporary.replace(target)  # atomic: a run is either fully written or not at all


def _prepare(spec: SweepSpec, out: Path, resume: bool) -> set[int]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs").mkdir(exist_ok=True)
    manifest = out / "sweep.json"
    done = set(read_results(out).get("run_id", pd.Series(dtype=int)).astype(int))
    if manifest.exists():
        recorded = json.loads(manifest.read_text())
        if recorded["fingerprint"] != spec.fingerprint:
            raise ValueError(f"{out} holds a different sweep (fingerprint {recorded['fingerprint']}); "
                             "use another --out")
        if done and not resume:
            raise ValueError(f"{out} already holds {len(done)} runs of this sweep: pass --resume to continue")
    from abm.storage import versions

    manifest.write_text(json.dumps({"fingerprint": spec.fingerprint, "specification": spec.source,
                                    "versions": versions()}, indent=2, default=str))
    return done


def run_sweep(spec: SweepSpec, out, *, resume: bool = False, workers: int = 2, scheduler: str | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Run every pending run of ``spec``, writing each row as it finishes; return all rows.

    Parameters
    ----------
    spec : SweepSpec
    out : path
        Dataset directory (``out/runs/*.parquet``, ``out/sweep.json``, ``out/results.parquet``).
    resume : bool
        Continue a sweep already in ``out`` (its finished runs are skipped).
    workers : int
        Processes of the local pool (ignored with ``scheduler``).
    scheduler : str, optional
        Address ``tcp://host:port`` of a running ``dask.distributed`` scheduler.
    progress : bool
        Show a progress bar (runs done, time left).
    """
    out = Path(out)
    done = _prepare(spec, out, resume)
    pending = [r for r in run_requests(spec) if r.run_id not in done]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(done) + len(pending), initial=len(done), desc="sweep", unit="run")
    try:
        for row in _execute(spec, pending, workers, scheduler):
            _write_row(out, row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    results = read_results(out)
    results.to_parquet(out / "results.parquet", index=False)
    return results


def _execute(spec: SweepSpec, pending: list[RunRequest], workers: int, scheduler: str | None):
    """Yield rows as runs finish, from a Dask cluster, a process pool, or this process."""
    if not pending:
        return
    if scheduler:
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = [client.submit(execute_run, spec.base, r, spec.outputs, pure=False) for r in pending]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)
        return
    if workers <= 1:
        for request in pending:
            yield execute_run(spec.base, request, spec.outputs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed as pool_completed

    # "spawn": fresh interpreters, safe whatever threads this process runs (progress bars, Dask).
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(execute_run, spec.base, r, spec.outputs) for r in pending]
        try:
            for future in pool_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()
