"""Writing results: every output directory gets its parameters, seed and versions beside it."""

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
    document = {**to_jsonable(payload), "versions": versions()}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


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
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
