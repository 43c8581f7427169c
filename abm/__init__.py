"""Agent-based simulator of the market for AI training data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("abm-training-data")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
