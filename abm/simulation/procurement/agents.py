"""The agents of the procurement model: creators, the platform, a creator union, a data broker.

Agents make the decisions (draw a cost, choose a report, settle a round) and keep their
books; the economics (allocations, payments, deviations) are the pure functions of
:mod:`abm.theory.procurement`, the same ones the analytic evaluation uses.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.theory.procurement import best_misreport, mechanism_round

__all__ = ["DomainCreator", "Platform", "CreatorUnion", "DataBroker", "DEVIATION_TOLERANCE"]

#: A misreport is made only if it gains more than this times ``max(1, b . y(b))`` (the
#: largest payment of any mechanism): payments are accurate to about 1e-10 relative, so
#: smaller gains are rounding.
DEVIATION_TOLERANCE = 1e-7


class DomainCreator(mesa.Agent):
    """The representative creator of one domain.

    Each round it draws ``draws_per_round`` private costs from its domain's distribution
    (with the model's generator) and reports them: truthfully, or (``best_response``) the
    best report on a grid against the others' truthful reports, when that gains more than
    the tolerance of :data:`DEVIATION_TOLERANCE`. Under a union (M4) the union reports for it.

    Attributes
    ----------
    cost, report, allocation, payment, utility : ndarray, shape (draws_per_round,)
        This round's; ``allocation`` is ``x`` (content produced), ``utility`` is
        ``payment - cost x^rho``.
    misreport_gain : ndarray
        The largest gain the search found (0 unless ``best_response``).
    total_utility : float
        Summed over all rounds and draws.
    """

    def __init__(self, model, domain: int) -> None:
        super().__init__(model)
        self.domain = domain
        empty = np.zeros(0)
        self.cost = self.report_made = self.allocation = self.payment = self.utility = empty
        self.misreport_gain = empty
        self.total_utility = 0.0

    def draw(self) -> None:
        """Draw this round's private costs from the model's generator."""
        distribution = self.model.market.costs[self.domain]
        self.cost = distribution.sample(self.model.draws_per_round, self.model.rng)

    def report(self) -> None:
        """Choose this round's reports (needs every creator's cost drawn)."""
        self.report_made, self.misreport_gain = choose_reports(self.model, self.domain, jointly=False)

    def book(self, y: np.ndarray, payment: np.ndarray) -> None:
        """Record the round's allocation ``y = x^rho`` and payments."""
        rho = self.model.market.rho[self.domain]
        self.allocation, self.payment = y ** (1.0 / rho), payment
        self.utility = payment - self.cost * y
        self.total_utility += float(self.utility.sum())


def choose_reports(model, domain: int, jointly: bool) -> tuple[np.ndarray, np.ndarray]:
    """Reports of ``domain`` for the round's draws, and the gains of the best misreports.

    Truthful unless the model's strategy is ``best_response`` and a grid report gains more
    than :data:`DEVIATION_TOLERANCE` (``jointly``: judged by all creators' utility).
    """
    costs = model.round_costs()
    truthful = costs[:, domain].copy()
    if model.strategy != "best_response":
        return truthful, np.zeros(len(truthful))
    best, gains = best_misreport(model.market, model.mechanism, costs, domain, model.report_grid, jointly)
    deviate = gains > DEVIATION_TOLERANCE * max(1.0, model.payment_scale)
    return np.where(deviate, best, truthful), gains


class Platform(mesa.Agent):
    """The buyer in the two-layer market (M1, M2, M4): allocates and pays.

    Attributes
    ----------
    revenue : ndarray
        This round's revenue per draw (minus what it paid).
    total_revenue : float
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.revenue = np.zeros(0)
        self.total_revenue = 0.0

    def settle(self, reports: np.ndarray) -> None:
        """Run the round's mechanism on ``reports`` and pay the creators (or their union)."""
        model = self.model
        y, payments = mechanism_round(model.market, model.mechanism, reports)
        if model.union is not None:
            model.union.receive(payments)
        for creator in model.creators:
            creator.book(y[:, creator.domain], payments[:, creator.domain])
        self.pay(payments.sum(axis=1))

    def pay(self, amounts: np.ndarray) -> None:
        """Book a round's payments, one per draw."""
        self.revenue = -np.asarray(amounts, dtype=float)
        self.total_revenue += float(self.revenue.sum())


class CreatorUnion(mesa.Agent):
    """One agent speaking for every creator (M4).

    It reports all its members' costs (under ``best_response``: a grid deviation in one
    domain at a time, judged by the members' total utility) and is paid ``b . y(b)`` per
    draw, whatever the reports (the procurement paper's Lemma 2.3). It passes the payment
    on to its members in proportion to the Myerson payments each would earn alone under
    M2, so no member is worse off than without the union (``Rev2 >= Rev4`` per draw).

    Attributes
    ----------
    received : ndarray
        This round's payment per draw.
    total_received : float
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        self.received = np.zeros(0)
        self.total_received = 0.0

    def report(self) -> None:
        """Report for every member."""
        for creator in self.model.creators:
            creator.report_made, creator.misreport_gain = choose_reports(self.model, creator.domain, jointly=True)

    def receive(self, shares: np.ndarray) -> None:
        """Book the platform's payment (``shares``: what goes to each member, per draw)."""
        self.received = shares.sum(axis=1)
        self.total_received += float(self.received.sum())


class DataBroker(mesa.Agent):
    """The middle layer (M5, M6): signs ``(z, t)`` with the platform before costs are drawn.

    ``z`` is the allocation at the upper bounds ``b`` (M5) or the mean costs (M6) and
    ``t = b . z^rho``. Every round the platform pays it ``t`` per draw and it buys ``z``
    from the creators at the posted prices ``b_k z_k^rho_k``, which every type accepts.

    Attributes
    ----------
    contract : ndarray, shape (K,)
        ``z``.
    transfer : float
        ``t``.
    profit : ndarray
        This round's profit per draw (``t`` minus the creators' payments: 0, Thm 3.3).
    total_profit : float
    """

    def __init__(self, model) -> None:
        super().__init__(model)
        market = model.market
        y, _ = mechanism_round(market, model.mechanism, market.upper[None])
        self.contract = y[0] ** (1.0 / market.rho)
        self.transfer = float(market.upper @ y[0])
        self.profit = np.zeros(0)
        self.total_profit = 0.0

    def settle(self, reports: np.ndarray) -> None:
        """Buy the contract from the creators and deliver it for ``t``."""
        model = self.model
        y, payments = mechanism_round(model.market, model.mechanism, reports)
        for creator in model.creators:
            creator.book(y[:, creator.domain], payments[:, creator.domain])
        self.profit = self.transfer - payments.sum(axis=1)
        self.total_profit += float(self.profit.sum())
        model.platform.pay(np.full(len(reports), self.transfer))
