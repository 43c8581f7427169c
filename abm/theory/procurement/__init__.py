r"""Procurement of content across domains with GenAI transfer.

The market, mechanisms and experiments of the procurement paper ("GenAI vs. Human Creators:
Procurement Mechanism Design in Two-/Three-Layer Markets"; anonymous authors, under
double-blind review; the paper text gives no arXiv id), in modules:

- :mod:`~abm.theory.procurement.costs`: cost distributions (uniform, truncated normal);
- :mod:`~abm.theory.procurement.market`: :class:`ProcurementMarket` and the papers' markets;
- :mod:`~abm.theory.procurement.allocation`: the allocation program, batched;
- :mod:`~abm.theory.procurement.payments`: Myerson integrals with error control, the union's
  path integral, independent checks;
- :mod:`~abm.theory.procurement.mechanisms`: the registry :data:`MECHANISMS` of M1-M6;
- :mod:`~abm.theory.procurement.quadrature`: the quadrature rules and the adaptive integrator;
- :mod:`~abm.theory.procurement.population`: many creators per domain (Appendix C.4) and
  their meta creators.

Everything public is importable from this package.
"""

from abm.theory.procurement.allocation import (
    allocate,
    allocate_batch,
    allocate_near,
    binding_code,
    social_cost_potential,
)
from abm.theory.procurement.costs import CostDistribution, TruncatedNormalCost, UniformCost
from abm.theory.procurement.market import ProcurementMarket, overproduction_market, sample_table1_market
from abm.theory.procurement.mechanisms import (
    MECHANISMS,
    ROUND_MECHANISMS,
    Mechanism,
    MechanismOutcome,
    anchored_allocation,
    best_misreport,
    PaymentOptions,
    evaluate_mechanisms,
    expectation,
    get_mechanism,
    mean_and_error,
    mechanism_round,
    proportional_shares,
    union_payment,
)
from abm.theory.procurement.payments import (
    PAYMENT_RTOL,
    KinkSearch,
    allocation_of,
    locate_kinks,
    myerson_payments,
    payment_integrals,
    reference_integrals,
    union_payment_path,
)
from abm.theory.procurement.quadrature import QuadratureResult, QuadratureWarning, gauss_legendre, integrate_adaptive
from abm.theory.procurement.population import (
    POPULATION_MECHANISMS,
    MetaCurve,
    Population,
    creators_per_domain,
    evaluate_population,
    meta_costs,
    meta_market,
    meta_outcomes,
    myerson_population,
    population_allocation,
    population_round,
)

__all__ = [
    "CostDistribution", "UniformCost", "TruncatedNormalCost",
    "ProcurementMarket", "sample_table1_market", "overproduction_market",
    "allocate", "allocate_batch", "allocate_near", "binding_code", "social_cost_potential",
    "myerson_payments", "payment_integrals", "locate_kinks", "KinkSearch", "reference_integrals",
    "union_payment_path", "allocation_of", "PAYMENT_RTOL",
    "MECHANISMS", "ROUND_MECHANISMS", "Mechanism", "MechanismOutcome", "PaymentOptions", "get_mechanism",
    "anchored_allocation", "union_payment", "proportional_shares", "mean_and_error",
    "mechanism_round", "evaluate_mechanisms", "best_misreport", "expectation",
    "gauss_legendre", "integrate_adaptive", "QuadratureResult", "QuadratureWarning",
    "Population", "creators_per_domain", "population_allocation", "myerson_population", "population_round",
    "evaluate_population", "MetaCurve", "meta_market", "meta_costs", "meta_outcomes", "POPULATION_MECHANISMS",
]
