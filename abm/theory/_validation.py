"""Checks shared by the parameter dataclasses: each raises ``ValueError`` naming the field."""

from __future__ import annotations

import math

import numpy as np


def frozen_array(values, name: str) -> np.ndarray:
    """Return a read-only float copy of ``values``; every entry must be finite."""
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric: {error}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values")
    array.setflags(write=False)
    return array


def require_finite(value, name: str) -> float:
    """Return ``float(value)``; it must be a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
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


def check_keys(table, allowed, where: str, required=frozenset()) -> None:
    """``ValueError`` naming unknown or missing keys of a table read from a file."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table, got {type(table).__name__}")
    unknown = set(table) - set(allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = set(required) - set(table)
    if missing:
        raise ValueError(f"{where}: missing key(s) {sorted(missing)}")
