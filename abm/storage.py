"""Writing results: every output carries its parameters, seed and versions beside and inside it."""

from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import numpy as np


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    import mesa
    import pandas
    import scipy

    import abm

    return {
        "abm": abm.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "mesa": mesa.__version__,
    }


def provenance() -> dict:
    """Package versions and, in a git checkout, the commit (with ``+dirty`` for local changes)."""
    import subprocess

    record = {"versions": versions()}
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        record["commit"] = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return record


def to_jsonable(value):
    """Convert dataclasses, numpy scalars and arrays, and paths to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` (with versions added) as indented JSON and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**to_jsonable(payload), **provenance()}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


#: Key of the JSON document :func:`write_parquet` stores in a Parquet file's schema metadata.
PARQUET_METADATA_KEY = b"abm"


def write_parquet(frame, path: Path, metadata: dict) -> Path:
    """Write ``frame`` as Parquet with ``metadata`` (plus provenance) inside the file.

    Read it back with :func:`read_parquet_metadata`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    document = json.dumps({**to_jsonable(metadata), **provenance()}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PARQUET_METADATA_KEY: document})
    pq.write_table(table, path)
    return path


def read_parquet_metadata(path) -> dict:
    """The metadata :func:`write_parquet` stored in a Parquet file (empty if none)."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(PARQUET_METADATA_KEY)
    return json.loads(raw) if raw else {}


def read_toml(path, what: str) -> dict:
    """Parse the TOML file at ``path``; ``what`` names the kind of file in error messages.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If it is not valid TOML (the message names the file).
    """
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a UTF-8 byte-order mark is harmless
    except UnicodeDecodeError as error:
        hint = " (it looks like UTF-16: save it as UTF-8)" if path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ValueError(f"{path}: a {what} must be UTF-8 text; byte {error.start} is not UTF-8{hint}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None


def output_dir(out) -> Path:
    """``out`` as a path, checked before any work: it must be non-empty and not a file.

    Raises
    ------
    ValueError
        If ``out`` is empty or names an existing file.
    """
    if out is None or str(out).strip() == "":
        raise ValueError("--out must name a directory, got an empty string")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory")
    return out


def claim_output_dir(out, job: str, identity: dict, force: bool = False) -> Path:
    """Check, before any work, that ``out`` may receive this job's results; return it as a path.

    ``out`` must not be a file. If it already holds a ``summary.json`` of another job, or of
    the same job with another ``identity`` (e.g. another seed or scenario), refuse unless
    ``force``: results of two runs must never be mixed in one folder.

    Raises
    ------
    FileExistsError
        Naming what the folder holds and how to proceed.
    ValueError
        If ``out`` is empty or names a file.
    """
    out = output_dir(out)
    summary = out / "summary.json"
    if summary.is_file() and not force:
        try:
            recorded = json.loads(summary.read_text())
        except (OSError, ValueError):
            recorded = {}
        held = {"job": recorded.get("job"), **{k: recorded.get(k) for k in identity}}
        wanted = {"job": job, **to_jsonable(identity)}
        if held != wanted:
            described = ", ".join(f"{k} {v!r}" for k, v in held.items())
            raise FileExistsError(f"{out} already holds results of another run ({described}); "
                                  "pass --force to replace them or choose another --out")
    return out
