"""Market regimes: one module each, one interface (:class:`~abm.regimes.base.Regime`), one registry.

>>> from abm.regimes import REGIMES
>>> sorted(REGIMES)  # doctest: +NORMALIZE_WHITESPACE
['collective_pool', 'creator_union', 'free_for_all', 'intermediary', 'intermediary_shadow',
 'private_broker', 'statutory_license', 'strict_ip']
"""

from abm.regimes import (
    collective_pool, creator_union, free_for_all, intermediary, intermediary_shadow, private_broker, statutory_license,
    strict_ip,
)
from abm.regimes.base import PricingContext, Regime, RegimeOutcome, RegimeSettings

#: Every regime by name, in the order tables and figures show them.
REGIMES: dict[str, Regime] = {
    module.REGIME.name: module.REGIME
    for module in (free_for_all, strict_ip, statutory_license, collective_pool, intermediary, intermediary_shadow,
                   private_broker, creator_union)
}

__all__ = ["REGIMES", "Regime", "RegimeOutcome", "RegimeSettings", "PricingContext", "get_regime"]


def get_regime(name: str) -> Regime:
    """The regime called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in REGIMES:
        raise ValueError(f"regime must be one of {list(REGIMES)}, got {name!r}")
    return REGIMES[name]
