"""The procurement market as a Mesa model: ``agents.py`` (creators, platform, union, broker)
and ``model.py`` (:class:`ProcurementModel`, one round per step)."""

from abm.simulation.procurement.agents import CreatorUnion, DataBroker, DomainCreator, Platform
from abm.simulation.procurement.model import MARKETS, STRATEGIES, ProcurementModel

__all__ = ["ProcurementModel", "MARKETS", "STRATEGIES", "DomainCreator", "Platform", "CreatorUnion", "DataBroker"]
