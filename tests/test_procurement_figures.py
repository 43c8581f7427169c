"""The rest of the procurement paper: Figs. 2, 3(c, d), 8, 9 / Table 2 for every mechanism, Appendix C.1."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize

from abm.jobs import procurement as job
from analysis.procurement_paper import (
    EXPERIMENTS,
    demand_maps,
    figure2_markets,
    figure3_market,
    genai_all_table,
    genai_cost_table,
    run_experiment,
    volatility_table,
)
from abm.theory.procurement import allocate_batch, mechanism_round, sample_table1_market
from abm.theory.procurement.payments import allocation_of


def _slsqp(market, cost):
    """Independent optimum: SLSQP on min sum c_k x_k^rho_k subject to the demands (ftol 1e-14)."""
    result = optimize.minimize(lambda x: float(np.sum(cost * np.abs(x) ** market.rho)), market.demand.copy(),
                               constraints=[{"type": "ineq", "fun": lambda x: market.slack(np.abs(x))}],
                               bounds=[(1e-9, None)] * 2, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    return np.abs(result.x), result.fun


@pytest.mark.parametrize("build, cost", [(figure3_market, (0.5, 0.5)), (figure2_markets(0), (0.035, 0.992))])
def test_demand_maps_are_optimal(build, cost):
    """The warm-started grid's social cost is at most SLSQP's (+1e-7 relative: SLSQP's ftol is 1e-14,
    and Newton's KKT solution is exact to rounding), at feasible points."""
    demands, x = demand_maps(build, cost, points=4)
    for i in (0, 3):
        for j in (0, 3):
            market = build(demands[i], demands[j])
            assert np.all(market.slack(x[i, j]) >= -1e-9 * market.demand)
            ours = float(np.sum(np.asarray(cost) * x[i, j] ** market.rho))
            _, theirs = _slsqp(market, np.asarray(cost))
            assert ours <= theirs * (1 + 1e-7) + 1e-12


def test_figure3d_domain_two_stops_producing_when_domain_one_is_large():
    """Fig. 3(d): with gamma_12 = 1 and mu = 0.5, x_2 = 0 exactly when 0.5 x_1 + 0.5 >= d_2 at the
    optimum; at d_1 = 20, d_2 = 1 the first demand alone forces x_1 >= 19, so x_2 = 0 (to solver
    accuracy) is optimal."""
    market = figure3_market(20.0, 1.0)
    with np.errstate(over="ignore"):  # gamma = 0: allocate_batch's bound (d / mu)^(1 / gamma) is inf
        x = allocate_batch(market, np.array([[0.5, 0.5]]))[0][0]
    assert x[1] < 1e-6 and x[0] == pytest.approx(19.0, rel=1e-9)


def test_volatility_is_table1_first_draws_and_m1_is_the_volatile_one():
    table = volatility_table(trials=30)
    per_draw, _, _ = job.table1(draws=30)
    m1 = per_draw[per_draw.mechanism == "M1"]
    np.testing.assert_allclose(table["revenue_M1"], m1["revenue"], rtol=1e-12)
    assert table["welfare_M1"].std() > table["welfare_M2"].std()  # the paper's Fig. 8 reading


def test_genai_all_agrees_with_table2_and_has_numeric_bounds():
    table = genai_all_table(trajectories=1, draws=12)
    reference = job.genai_table(trajectories=1, draws=12)
    m1 = table[(table.mechanism == "M1")].set_index("genai")
    assert m1.loc[True, "revenue"] == pytest.approx(reference["revenue_with_genai"].iloc[0], rel=1e-12)
    assert m1.loc[False, "welfare"] == pytest.approx(reference["welfare_without_genai"].iloc[0], rel=1e-12)
    m3 = table[table.mechanism == "M3"]
    assert m3["revenue"].isna().all() and (m3["revenue_lower"] <= m3["revenue_upper"]).all()
    assert all(pd.api.types.is_numeric_dtype(table[c]) for c in table.columns if c not in ("mechanism",))


@pytest.mark.slow
def test_genai_cost_zero_is_the_paper_and_positive_cost_pays_myerson_of_shifted_weights():
    """At c^G = 0 the table is mechanism_round's; at c^G = 0.5 the M2 payment is checked against quad
    of y_k(t + c^G) over [c_k, b_k] (epsabs 1e-11), and revenue falls with c^G."""
    table = genai_cost_table(genai_costs=(0.0, 0.5), draws=4, seed=1).set_index(["genai_cost", "mechanism"])
    market = sample_table1_market(3)
    costs = market.sample_costs(4, np.random.default_rng(1))
    for name in ("M1", "M2"):
        _, payments = mechanism_round(market, name, costs)
        assert table.loc[(0.0, name), "revenue"] == pytest.approx(-payments.sum(axis=1).mean(), rel=1e-9)
        assert table.loc[(0.5, name), "revenue"] < table.loc[(0.0, name), "revenue"]
    shift = 0.5
    total = 0.0
    for row in costs:
        y = allocation_of(market, lambda c: c + shift, row[None])[0]
        for k in range(market.n_domains):
            def along(t, k=k):
                point = row.copy()
                point[k] = t
                return allocation_of(market, lambda c: c + shift, point[None])[0][k]

            total += row[k] * y[k] + integrate.quad(along, row[k], market.upper[k], epsabs=1e-11, limit=200)[0]
        total += shift * y.sum()
    assert table.loc[(0.5, "M2"), "revenue"] == pytest.approx(-total / len(costs), rel=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_writes_numeric_csv_and_png(name, tmp_path):
    paths = run_experiment(name, tmp_path, quick=True)
    for path in paths:
        assert path.exists() and path.stat().st_size > 0
    for path in (p for p in paths if p.suffix == ".csv"):
        table = pd.read_csv(path)
        text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        assert set(text) <= {"mechanism", "agent", "panel"}, text
    with pytest.raises(ValueError, match="experiment"):
        run_experiment("figure99", tmp_path)
