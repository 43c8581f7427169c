"""Checks shared by the parameter dataclasses: each raises ``ValueError`` naming the field.

Numbers must *be* numbers: a string (``"0.2"``), a boolean (``true``), a list or a table
where a number is expected is refused, never converted, so a typo in a scenario file cannot
silently change an experiment. Whole numbers (agents, seeds, replications) must be ints or
floats with no fractional part.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["frozen_array", "require_finite", "require_positive", "require_nonnegative", "require_unit_interval",
           "require_whole", "require_at_most", "check_keys", "describe"]


def describe(value) -> str:
    """``repr`` of a value with its kind when that explains a refusal (``'0.2' (a string)``)."""
    if isinstance(value, (bool, np.bool_)):
        return f"{value!r} (a boolean)"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, (list, tuple)):
        return f"{value!r} (a list)"
    if isinstance(value, dict):
        return f"{value!r} (a table)"
    return repr(value)


def _is_real(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real)


def frozen_array(values, name: str) -> np.ndarray:
    """Return a read-only float copy of ``values``; every entry must be a finite number."""
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must contain only numbers: {error}") from None
    if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and all(_is_real(v) for v in raw.ravel())):
        raise ValueError(f"{name} must contain only numbers (no strings or booleans), got {describe(values)}")
    array = np.array(raw, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values")
    array.setflags(write=False)
    return array


def require_finite(value, name: str) -> float:
    """Return ``float(value)``; it must be a finite real number (not a string or a boolean)."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a number, got {describe(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def require_positive(value, name: str) -> float:
    """Return ``float(value)``; it must be finite and > 0."""
    number = require_finite(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def require_nonnegative(value, name: str) -> float:
    """Return ``float(value)``; it must be finite and >= 0."""
    number = require_finite(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def require_unit_interval(value, name: str) -> float:
    """Return ``float(value)``; it must lie in [0, 1]."""
    number = require_finite(value, name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return number


def require_at_most(value: float, bound: float, name: str, why: str) -> float:
    """Return ``value``; ``|value|`` must not exceed ``bound`` (``why`` says what a larger one breaks)."""
    if abs(value) > bound:
        raise ValueError(f"{name} must be <= {bound:g} in magnitude ({why}), got {value!r}")
    return value


def require_whole(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``int(value)``; it must be an int or an integral float (not a string or boolean),
    at least ``minimum`` and at most ``maximum`` when given."""
    if not _is_real(value):
        raise ValueError(f"{name} must be a whole number, got {describe(value)}")
    if isinstance(value, numbers.Integral) or (isinstance(value, np.ndarray) and value.dtype.kind in "iu"):
        number = int(value)
    else:
        number = float(value)
        if not math.isfinite(number) or number != math.floor(number):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(number)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return number


def check_keys(table, allowed, where: str, required=frozenset()) -> None:
    """``ValueError`` naming unknown or missing keys of a table read from a file."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table, got {describe(table)}")
    unknown = set(table) - set(allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown, key=str)}; allowed: {sorted(allowed)}")
    missing = set(required) - set(table)
    if missing:
        raise ValueError(f"{where}: missing key(s) {sorted(missing)}")
