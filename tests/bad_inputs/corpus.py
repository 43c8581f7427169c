"""The bad-input corpus: loading its cases, turning each into files and running it.

The cases are data (``scenario.toml``, ``sweep.toml``, ``cli.toml``, ``library.toml`` beside
this module); ``tests/test_bad_inputs.py`` runs every one through the command line and the
library, and ``python3 -m tests.bad_inputs.audit`` classifies every one (refused clearly,
refused without naming the input, traceback, silently accepted) against any checkout.

Each run gives an :class:`Outcome`; a case passes when the outcome is ``"clear"``: the input
was refused with every expected fragment in the message and no traceback.
"""

from __future__ import annotations

import copy
import io
import json
import math
import shutil
import time
import tomllib
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("scenario", "sweep", "cli", "library")
#: Which ways each kind of case is run.
MODES = {"scenario": ("cli", "library"), "sweep": ("cli", "library"), "cli": ("cli",), "library": ("library",)}


@dataclass(frozen=True)
class Case:
    kind: str
    id: str
    data: dict

    @property
    def expect(self) -> list[str]:
        expect = self.data["expect"]
        return [expect] if isinstance(expect, str) else list(expect)

    @property
    def xfail(self) -> str | None:
        return self.data.get("xfail")

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def load_cases(kinds=KINDS) -> list[Case]:
    """Every case of the corpus, in file order."""
    cases = []
    for kind in kinds:
        with open(HERE / f"{kind}.toml", "rb") as handle:
            cases += [Case(kind, row["id"], row) for row in tomllib.load(handle)["cases"]]
    return cases


# --- writing the inputs ----------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(tree: dict) -> str:
    """TOML text of a dict: scalars first, then one ``[table]`` per dict (nested dicts inline)."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in tree.items() if not isinstance(v, dict)]
    for key, table in tree.items():
        if isinstance(table, dict):
            lines.append(f"\n[{json.dumps(key)}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _edit(tree: dict, data: dict, separator: str) -> dict:
    tree = copy.deepcopy(tree)
    for path in data.get("unset", []):
        *parents, leaf = path.split(separator)
        node = tree
        for key in parents:
            node = node[key]
        del node[leaf]
    for path, value in data.get("set", {}).items():
        *parents, leaf = path.split(separator)
        node = tree
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return tree


def _write_text(path: Path, data: dict) -> None:
    encoding = data.get("encoding", "utf-8")
    path.write_bytes(data["text"].encode("utf-8" if encoding == "binary" else encoding))


def base_scenario() -> dict:
    with open(HERE / "base_scenario.toml", "rb") as handle:
        return tomllib.load(handle)


def base_sweep() -> dict:
    with open(HERE / "base_sweep.toml", "rb") as handle:
        return tomllib.load(handle)


def scenario_file(case: Case, tmp: Path) -> Path:
    """The scenario file (or directory, or missing path) the case feeds to ``abm run``."""
    data = case.data
    if data.get("path") == "directory":
        (tmp / "a_directory").mkdir(exist_ok=True)
        return tmp / "a_directory"
    if data.get("path") == "missing":
        return tmp / "missing.toml"
    path = tmp / "scenario.toml"
    if "text" in data:
        _write_text(path, data)
    else:
        path.write_text(to_toml(_edit(base_scenario(), data, ".")))
    return path


def sweep_files(case: Case, tmp: Path) -> tuple[Path, Path | str]:
    """``(spec, out)``: the specification file and the output folder the case uses."""
    data = case.data
    (tmp / "scenario.toml").write_text(to_toml(base_scenario()))
    if "base_text" in data:
        (tmp / "base.toml").write_text(data["base_text"])
    out = tmp / "out"
    setup = data.get("setup")
    if setup == "foreign_runs":
        import pandas as pd

        (out / "runs").mkdir(parents=True)
        pd.DataFrame([{"run_id": 0, "seed": 1, "status": "ok", "error": ""}]).to_parquet(
            out / "runs" / "run-0000000.parquet", index=False)
    elif setup == "out_is_file":
        out.write_text("not a folder\n")
    elif setup == "out_empty":
        out = ""  # a string: Path("") would already be "."
    if data.get("path") == "directory":
        (tmp / "a_directory").mkdir(exist_ok=True)
        return tmp / "a_directory", out
    if data.get("path") == "missing":
        return tmp / "missing.toml", out
    spec = tmp / "spec.toml"
    if "text" in data:
        _write_text(spec, data)
    else:
        spec.write_text(to_toml(_edit(base_sweep(), data, "/")))
    return spec, out


def cli_argv(case: Case, tmp: Path) -> list[str]:
    """The command line of a case (``cli``, ``scenario`` or ``sweep`` kind)."""
    if case.kind == "scenario":
        return ["run", str(scenario_file(case, tmp)), "--out", str(tmp / "o"), "--no-progress"]
    if case.kind == "sweep":
        spec, out = sweep_files(case, tmp)
        return ["sweep", str(spec), "--out", str(out), "--workers", "1", "--no-progress"]
    (tmp / "scenario.toml").write_text(to_toml(base_scenario()))
    (tmp / "spec.toml").write_text(to_toml(base_sweep()))
    (tmp / "a_file.txt").write_text("a file, not a folder\n")
    names = {"tmp": str(tmp), "scenario": str(tmp / "scenario.toml"), "spec": str(tmp / "spec.toml"),
             "file": str(tmp / "a_file.txt")}
    return [arg.format(**names) for arg in case.data["argv"]]


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a case went.

    ``kind`` is ``"clear"`` (refused, message has every fragment, no traceback),
    ``"unclear"`` (refused, but the message misses a fragment), ``"traceback"`` (an
    unexpected exception, or a traceback printed) or ``"accepted"`` (no error at all).
    """

    kind: str
    message: str
    seconds: float = 0.0

    def describe(self) -> str:
        return f"{self.kind}: {self.message.strip()[-2000:]}"


def _classify_message(message: str, expect: list[str]) -> str:
    return "clear" if all(fragment in message for fragment in expect) else "unclear"


def run_cli(case: Case, tmp: Path) -> Outcome:
    """Run the case's command line in this process through :func:`abm.cli.main`."""
    from abm.cli import main

    argv = cli_argv(case, tmp)
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(argv)
    except SystemExit as exit_:  # argparse's refusals
        code = exit_.code
    except BaseException:  # noqa: BLE001 - an escaped exception is what the corpus looks for
        return Outcome("traceback", stderr.getvalue() + traceback.format_exc(), time.perf_counter() - started)
    seconds = time.perf_counter() - started
    err = stderr.getvalue()
    if "Traceback (most recent call last)" in err:
        return Outcome("traceback", err, seconds)
    if code != 2:
        return Outcome("accepted", f"exit {code}; stderr: {err[-500:]}", seconds)
    return Outcome(_classify_message(err, case.expect), err, seconds)


def tiny_sweep_spec(tmp: Path):
    """A valid tiny :class:`~abm.simulation.sweep.SweepSpec` (base_sweep.toml) written under ``tmp``."""
    from abm.simulation.sweep import load_sweep

    folder = tmp / "tiny_spec"
    folder.mkdir(exist_ok=True)
    (folder / "scenario.toml").write_text(to_toml(base_scenario()))
    (folder / "spec.toml").write_text(to_toml(base_sweep()))
    return load_sweep(folder / "spec.toml")


def library_namespace(tmp: Path) -> dict:
    """The names a ``library`` case's expression may use."""
    import numpy as np

    from abm import scenario as scenario_module
    from abm.regimes import RegimeSettings
    from abm.simulation.dynamic_market.model import DataMarketModel
    from abm.simulation.run import simulate
    from abm.simulation import sweep as sweep_module
    from abm.storage import claim_output_dir
    from abm.theory import _validation, supply
    from abm.theory.fluid import CreatorType, DynamicMarket
    from abm.theory.static import InformationMarket

    names = {"np": np, "tmp": tmp, "simulate": simulate, "DataMarketModel": DataMarketModel,
             "RegimeSettings": RegimeSettings, "CreatorType": CreatorType, "DynamicMarket": DynamicMarket,
             "InformationMarket": InformationMarket, "claim_output_dir": claim_output_dir,
             "tiny_spec": lambda: tiny_sweep_spec(tmp)}
    for module in (scenario_module, sweep_module, _validation, supply):
        names.update({name: getattr(module, name) for name in dir(module) if not name.startswith("_")})
    names.update({name: getattr(_validation, name) for name in dir(_validation) if name.startswith("require")})
    return names


def _library_call(case: Case, tmp: Path):
    if case.kind == "scenario":
        from abm.simulation.run import simulate

        path = scenario_file(case, tmp)
        return lambda: simulate(str(path), fluid=True)
    if case.kind == "sweep":
        from abm.simulation.sweep import load_sweep, run_sweep

        spec, out = sweep_files(case, tmp)
        return lambda: run_sweep(load_sweep(spec), out, workers=1, progress=False)
    namespace = library_namespace(tmp)
    return lambda: eval(case.data["code"], namespace)  # noqa: S307 - the corpus is our own data


#: Exceptions a refused library call may raise.
REFUSALS = (ValueError, FileNotFoundError, FileExistsError)


def run_library(case: Case, tmp: Path) -> Outcome:
    """Run the case through the library in this process."""
    wanted = {"ValueError": ValueError, "FileNotFoundError": FileNotFoundError,
              "FileExistsError": FileExistsError}[case.data.get("error", "ValueError")]
    started = time.perf_counter()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call = _library_call(case, tmp)
        with redirect_stdout(stdout), redirect_stderr(stderr):
            call()
    except REFUSALS as error:
        seconds = time.perf_counter() - started
        message = f"{type(error).__name__}: {error}"
        if case.kind == "library" and not isinstance(error, wanted):
            return Outcome("unclear", message, seconds)
        return Outcome(_classify_message(str(error), case.expect), message, seconds)
    except BaseException:  # noqa: BLE001
        return Outcome("traceback", traceback.format_exc(), time.perf_counter() - started)
    return Outcome("accepted", "no exception", time.perf_counter() - started)


def run_case(case: Case, mode: str, tmp: Path) -> Outcome:
    """Run ``case`` in ``mode`` (``"cli"`` or ``"library"``) with ``tmp`` as scratch space."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        return run_cli(case, tmp) if mode == "cli" else run_library(case, tmp)
    finally:
        shutil.rmtree(tmp / "o", ignore_errors=True)
