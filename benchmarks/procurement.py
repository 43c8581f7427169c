"""The Table 1 experiment: 1,000 cost draws, every mechanism, K = 2, exact payment quadrature.

Run: ``python3 benchmarks/procurement.py``. Prints the time of ``evaluate_mechanisms`` on
1,000 draws of the Appendix E market, and in the same run the time of one batch of 64,000
allocations, the unit everything else is built from.
"""

import time

import numpy as np

from abm.theory.procurement import allocate_batch, evaluate_mechanisms, sample_table1_market


def main() -> None:
    market = sample_table1_market(3)
    costs = market.sample_costs(1000, np.random.default_rng(5))
    start = time.perf_counter()
    evaluate_mechanisms(market, costs)
    table = time.perf_counter() - start
    weights = market.virtual_cost(market.sample_costs(64_000, np.random.default_rng(6)))
    start = time.perf_counter()
    allocate_batch(market, weights)
    batch = time.perf_counter() - start
    print(f"Table 1, 1,000 draws, all mechanisms, split quadrature: {table:.1f} s (goal < 30 s)")
    print(f"64,000 allocations in one batch: {batch:.1f} s ({batch / 64_000 * 1e6:.0f} us each)")


if __name__ == "__main__":
    main()
