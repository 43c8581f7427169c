"""Procurement benchmarks: M1's Myerson payment integrals, the fixed rule of before against
the adaptive rule of now, side by side in one run.

Run: ``python3 benchmarks/procurement.py [--draws 1000] [--seeds 0 1 2] [--no-reference]``.

Population mode (many creators per domain, the paper's Appendix C.4):
``python3 benchmarks/procurement.py --population [--creators 100] [--domains 3] [--draws 1000]
[--repeats 3] [--mechanisms M1 M2]`` times, side by side with their repeats interleaved, the
one-creator path (:func:`~abm.theory.procurement.mechanism_round`, ``n_k = 1``) and the
population path (:func:`~abm.theory.procurement.population.population_round`) with
``--creators`` creators per domain, on ``sample_table1_market(3, k=domains)`` with the same
number of cost draws, and prints min / median wall clock and (in brackets) CPU seconds.

For each seed of the cost draws of Table 1's market (``sample_table1_market(3)``) it prints
the CPU time of both rules on the truncated-normal domain's integrals (both on today's
allocation solver, which is itself about four times faster than before) and, unless
``--no-reference``, their largest and median relative errors against
:func:`abm.theory.procurement.reference_integrals` (``scipy.integrate.quad`` per draw, split
at the kinks, ``epsabs=1e-12, epsrel=1e-11``; it costs about 0.1 s of CPU per draw). Then it
times ``evaluate_mechanisms`` on 1,000 draws (all mechanisms) and one batch of 64,000
allocations. Times are CPU seconds of this process (``time.process_time``): on a shared
machine they vary far less than wall-clock times.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import Timing, timed  # noqa: E402

from abm.theory.procurement import (
    allocate_batch,
    allocation_of,
    binding_code,
    evaluate_mechanisms,
    gauss_legendre,
    payment_integrals,
    reference_integrals,
    sample_table1_market,
)

#: The rule shipped before: 12 grid intervals, each split at one kink (24 bisections on the
#: set of binding demands) or at its middle, 8 Gauss-Legendre nodes per piece.
FIXED_GRID, FIXED_NODES, FIXED_BISECTIONS = 13, 8, 24


def fixed_rule(market, weight_of, cost, k):
    """``int_{c_k}^{b_k} y_k dt`` by the fixed rule shipped before the adaptive one."""

    def codes(points):
        x = allocate_batch(market, weight_of(points.reshape(-1, market.n_domains)))[0]
        return binding_code(market, x).reshape(points.shape[:-1])

    def along(rows, values):
        points = np.repeat(cost[rows, None, :], values.shape[1], axis=1)
        points[:, :, k] = values
        return points

    rows = np.arange(len(cost))
    low, high = cost[:, k], np.full(len(cost), market.upper[k])
    grid = low[:, None] + (high - low)[:, None] * np.linspace(0.0, 1.0, FIXED_GRID)
    pattern = codes(along(rows, grid))
    kinks = np.full((len(cost), FIXED_GRID - 1), np.nan)
    change_rows, change_cols = np.nonzero(pattern[:, :-1] != pattern[:, 1:])
    if change_rows.size:
        lo, hi = grid[change_rows, change_cols], grid[change_rows, change_cols + 1]
        left = pattern[change_rows, change_cols]
        for _ in range(FIXED_BISECTIONS):
            middle = 0.5 * (lo + hi)
            same = codes(along(change_rows, middle[:, None]))[:, 0] == left
            lo, hi = np.where(same, middle, lo), np.where(same, hi, middle)
        kinks[change_rows, change_cols] = 0.5 * (lo + hi)
    split = np.where(np.isnan(kinks), 0.5 * (grid[:, :-1] + grid[:, 1:]), kinks)
    edges = np.sort(np.concatenate([grid, split], axis=1), axis=1)
    nodes, weights = gauss_legendre(FIXED_NODES)
    a, b = edges[:, :-1], edges[:, 1:]
    points = a[..., None] + (b - a)[..., None] * nodes
    values = allocation_of(market, weight_of, along(rows, points.reshape(len(cost), -1)))[..., k]
    return np.sum(values.reshape(points.shape) * weights * (b - a)[..., None], axis=(1, 2))


def cpu_time(function):
    """``(result, CPU seconds)`` of ``function()``."""
    start = time.process_time()
    result = function()
    return result, time.process_time() - start


def compare_rules(draws: int, seed: int, reference: bool) -> None:
    market = sample_table1_market(3)
    costs = market.sample_costs(draws, np.random.default_rng(seed))
    weight_of = market.virtual_cost
    old, old_time = cpu_time(lambda: fixed_rule(market, weight_of, costs, 0))
    new, new_time = cpu_time(lambda: payment_integrals(market, weight_of, costs, 0))
    line = f"seed {seed}, {draws} draws | CPU: fixed {old_time:6.1f} s, adaptive {new_time:5.1f} s"
    if reference:
        exact, ref_time = cpu_time(lambda: reference_integrals(market, weight_of, costs, 0))
        old_error, new_error = np.abs(old / exact - 1), np.abs(new.value / exact - 1)
        line += (f" | error vs quad: fixed max {old_error.max():.1e} (median {np.median(old_error):.0e}, "
                 f"{np.mean(old_error > 1e-5):.1%} > 1e-5), adaptive max {new_error.max():.1e} "
                 f"(median {np.median(new_error):.0e}) | own estimate max {np.max(new.error / new.value):.0e}"
                 f" | quad {ref_time:.0f} s")
    print(line, flush=True)


def population_benchmark(creators: int, domains: int, draws: int, repeats: int, mechanisms) -> None:
    """Min / median of ``repeats`` runs of each mechanism on ``draws`` draws: one creator per
    domain (today's path) beside ``creators`` creators per domain (the population path)."""
    from abm.theory.procurement import mechanism_round
    from abm.theory.procurement.population import Population, population_round

    market = sample_table1_market(3, k=domains)
    population = Population(market, creators)
    one = market.sample_costs(draws, np.random.default_rng(0))
    many = population.sample_costs(draws, np.random.default_rng(0))
    print(f"{domains} domains, {draws} cost draws; min / median of {repeats}, wall (CPU) seconds", flush=True)
    for name in mechanisms:
        single, crowd = Timing(), Timing()
        for _ in range(repeats):
            single.add(*timed(lambda: mechanism_round(market, name, one))[1:])
            crowd.add(*timed(lambda: population_round(population, name, many))[1:])
        print(f"{name}: 1 creator per domain {single.describe()} | {creators} creators per domain "
              f"{crowd.describe()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-reference", action="store_true", help="skip the scipy.integrate.quad reference")
    parser.add_argument("--population", action="store_true", help="time many creators per domain instead")
    parser.add_argument("--creators", type=int, default=100, help="population: creators per domain")
    parser.add_argument("--domains", type=int, default=3, help="population: domains K")
    parser.add_argument("--repeats", type=int, default=3, help="population: repeats of each timing")
    parser.add_argument("--mechanisms", nargs="+", default=["M1", "M2"], help="population: mechanisms timed")
    args = parser.parse_args()
    if args.population:
        population_benchmark(args.creators, args.domains, args.draws, args.repeats, args.mechanisms)
        return
    for seed in args.seeds:
        compare_rules(args.draws, seed, not args.no_reference)
    market = sample_table1_market(3)
    costs = market.sample_costs(1000, np.random.default_rng(5))
    _, table = cpu_time(lambda: evaluate_mechanisms(market, costs))
    weights = market.virtual_cost(market.sample_costs(64_000, np.random.default_rng(6)))
    _, batch = cpu_time(lambda: allocate_batch(market, weights))
    print(f"Table 1, 1,000 draws, all mechanisms (adaptive payments): {table:.1f} s CPU")
    print(f"64,000 allocations in one batch: {batch:.1f} s CPU ({batch / 64_000 * 1e6:.0f} us each)")


if __name__ == "__main__":
    main()
