"""Sobol sensitivity indices of sweep outputs (SALib) over a Sobol design."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["sobol_indices"]


def sobol_indices(spec, results: pd.DataFrame, outputs=None, seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol indices of each output, per varied parameter.

    Replications of a design point are averaged first. The rows must be the complete Sobol
    design written by :func:`abm.simulation.sweep.run_sweep` for ``spec`` (``design = "sobol"``).

    Returns
    -------
    DataFrame
        Columns ``output``, ``parameter``, ``S1``, ``S1_conf``, ``ST``, ``ST_conf``.

    Raises
    ------
    ValueError
        If the sweep is not a Sobol design, or points are missing or failed.
    """
    from SALib.analyze import sobol as sobol_analyze

    from abm.simulation.sweep import design_points, sobol_problem

    if spec.design != "sobol":
        raise ValueError(f"Sobol indices need a sobol design, this sweep is {spec.design!r}")
    n_points = len(design_points(spec))
    ok = results[results["status"] == "ok"]
    means = ok.groupby("point")[list(outputs or spec.outputs)].mean()
    if len(means) != n_points:
        raise ValueError(f"Sobol analysis needs all {n_points} design points to succeed; have {len(means)}")
    problem = sobol_problem(spec)
    rows = []
    for output in means.columns:
        values = means[output].to_numpy()
        if np.ptp(values) == 0:
            indices = {"S1": np.zeros(len(spec.parameters)), "S1_conf": np.zeros(len(spec.parameters)),
                       "ST": np.zeros(len(spec.parameters)), "ST_conf": np.zeros(len(spec.parameters))}
        else:
            indices = sobol_analyze.analyze(problem, values, calc_second_order=False, seed=seed)
        for j, name in enumerate(problem["names"]):
            rows.append({"output": output, "parameter": name, "S1": indices["S1"][j],
                         "S1_conf": indices["S1_conf"][j], "ST": indices["ST"][j], "ST_conf": indices["ST_conf"][j]})
    return pd.DataFrame(rows)
