"""Static equilibria: the O(n) lambda fixed point against a generic n-dimensional optimiser.

Run: ``python3 benchmarks/static.py``. Prints, in one run, the time to solve both equilibria
for 10^6 heterogeneous creators and the ratio against ``scipy.optimize.minimize`` at n = 200.
"""

import sys
from pathlib import Path

import numpy as np
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_of  # noqa: E402

from abm.theory.static import (  # noqa: E402
    InformationMarket,
    effective_precision,
    marginal_precision,
    social_optimum,
    stackelberg,
)


def both_equilibria(market):
    return stackelberg(market), social_optimum(market)


def generic_optimiser(market, analytic_gradient=True):
    """Both equilibria by L-BFGS-B over all n efforts (gradient analytic or by differences)."""
    efforts = []
    for weight in (1.0, 0.5):
        def objective(effort):
            value = market.value * effective_precision(market, effort) - weight * market.cost * effort @ effort
            gradient = market.value * marginal_precision(market, effort) - 2 * weight * market.cost * effort
            return (-value, -gradient) if analytic_gradient else -value

        result = optimize.minimize(objective, np.full(market.n_creators, 0.1), jac=analytic_gradient,
                                   method="L-BFGS-B", bounds=[(0, None)] * market.n_creators)
        efforts.append(result.x)
    return efforts


def main() -> None:
    rng = np.random.default_rng(2026)
    large = InformationMarket(rng.uniform(0, 1.5, 10**6), sigma2=1.3)
    t_large = best_of(lambda: both_equilibria(large))
    small = InformationMarket(rng.uniform(0, 1.5, 200), sigma2=1.3)
    t_small_fixed = best_of(lambda: both_equilibria(small), repeats=50)
    t_small_generic = best_of(lambda: generic_optimiser(small), repeats=3)
    t_small_blind = best_of(lambda: generic_optimiser(small, analytic_gradient=False), repeats=1)
    gap = max(np.max(np.abs(a - b.effort)) for a, b in zip(generic_optimiser(small), both_equilibria(small)))
    print(f"both equilibria, 10^6 creators, lambda fixed point: {t_large:8.3f} s  (goal < 0.5 s)")
    print(f"both equilibria, n = 200, lambda fixed point:       {t_small_fixed * 1e3:8.3f} ms")
    print(f"both equilibria, n = 200, scipy L-BFGS-B over n:    {t_small_generic * 1e3:8.3f} ms")
    print(f"both equilibria, n = 200, L-BFGS-B, numeric grad:  {t_small_blind * 1e3:8.3f} ms")
    print(f"speed-up at n = 200: {t_small_generic / t_small_fixed:,.0f}x against the analytic-gradient optimiser, "
          f"{t_small_blind / t_small_fixed:,.0f}x against finite differences (max effort gap {gap:.1e})")


if __name__ == "__main__":
    main()
