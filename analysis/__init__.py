"""Emergent-vs-analytic comparison, plots and reports.

Plot functions take data and a matplotlib ``Axes`` and return the figure; only the
command-line jobs write files.
"""
