"""The agents of the procurement model: creators, the platform, a creator union, a data broker.

Agents make the decisions (draw a cost, choose a report, settle a round) and keep their
books; the economics (allocations, payments, deviations) are the pure functions of
:mod:`abm.theory.procurement`, the same ones the analytic evaluation uses.
"""

from __future__ import annotations

import mesa
import numpy as np

from abm.simulation.procurement.learning import counterfactual_utilities, shaded_reports
from abm.theory.procurement import MECHANISMS, anchored_allocation, best_misreport, mechanism_round
from abm.theory.procurement.intermediaries import (SHARING_RULES, coalition_payment, empirical_posted_price,
                                                   share_payment)

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
        self.learner = None  # a HedgeLearner when the model's creators learn (learning.py)

    def draw(self) -> None:
        """Draw this round's private costs from the model's generator."""
        distribution = self.model.market.costs[self.domain]
        self.cost = distribution.sample(self.model.draws_per_round, self.model.rng)

    def report(self) -> None:
        """Choose this round's reports (needs every creator's cost drawn); a learning creator
        shades its costs by a factor drawn from its weights."""
        if self.learner is not None:
            factor = self.learner.choose(self.model.rng)
            self.report_made = shaded_reports(self.model.market, self.domain, self.cost, [factor])[:, 0]
            self.misreport_gain = np.zeros(len(self.cost))
            return
        self.report_made, self.misreport_gain = choose_reports(self.model, self.domain, jointly=False)

    def learn(self) -> None:
        """After the round is settled: update the learner with what every factor would have earned."""
        model = self.model
        utilities = counterfactual_utilities(model.market, model.mechanism, model.round_costs(),
                                             model.round_reports(), self.domain, self.learner.factors)
        self.learner.update(utilities.mean(axis=0))

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
        if model.union is not None and model.union.acts:
            y, payments = model.union.payments(reports)
        else:
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

    def __init__(self, model, sharing: str = "proportional", exit: bool = False) -> None:
        super().__init__(model)
        if sharing not in SHARING_RULES:
            raise ValueError(f"union_sharing must be one of {list(SHARING_RULES)}, got {sharing!r}")
        if not isinstance(exit, (bool, np.bool_)):
            raise ValueError(f"union_exit must be True or False, got {exit!r}")
        self.sharing, self.exit = sharing, bool(exit)
        self.members = set(range(model.market.n_domains))
        self.received = np.zeros(0)
        self.total_received = 0.0
        self._m2 = None

    @property
    def acts(self) -> bool:
        """Whether the union uses its own sharing rule and membership (else M4 as in the paper)."""
        return self.exit or self.sharing != "proportional"

    def payments(self, reports: np.ndarray, members=None) -> tuple[np.ndarray, np.ndarray]:
        """``y`` and every creator's payment: members (default the union's) share ``T_S`` by
        the rule, the others receive their Myerson (M2) payments ``T_{k}``
        (:mod:`abm.theory.procurement.intermediaries`)."""
        y, alone = mechanism_round(self.model.market, "M2", reports)
        self._m2 = (reports, alone)  # the round's M2 payments, for update_membership
        return y, self._split(reports, alone, self.members if members is None else members)

    def _alone(self, reports: np.ndarray) -> np.ndarray:
        """The M2 payments ``T_{k}`` for ``reports``: those of the round's settle when it ran on
        the same reports (it always has in a model step), else computed."""
        if self._m2 is not None and np.array_equal(self._m2[0], reports):
            return self._m2[1]
        return mechanism_round(self.model.market, "M2", reports)[1]

    def _split(self, reports: np.ndarray, alone: np.ndarray, members) -> np.ndarray:
        """Every creator's payment given the M2 payments ``alone``: ``members`` share ``T_S``
        by the rule, the others keep their own."""
        members = sorted(members)
        payments = alone.copy()
        if members:
            total = coalition_payment(self.model.market, reports, members)
            payments[:, members] = share_payment(total, alone[:, members], self.sharing)
        return payments

    def update_membership(self) -> None:
        """The stated rule: on the round's draws (means), the member who would gain most by
        leaving (its M2 payment above its share) leaves; if none would, the outsider who would
        gain most by joining joins. One move per round; gains below the payment tolerance
        :data:`DEVIATION_TOLERANCE` times ``b . y(b)`` do not count."""
        if not self.exit:
            return
        model = self.model
        reports = model.round_reports()
        alone = self._alone(reports)  # one M2 outcome for the round and every candidate move
        now = self._split(reports, alone, self.members)
        margin = DEVIATION_TOLERANCE * max(1.0, model.payment_scale)
        gains = {}
        for k in range(model.market.n_domains):
            moved = self._split(reports, alone, self.members ^ {k})
            gains[k] = float((moved[:, k] - now[:, k]).mean())
        leaving = {k: g for k, g in gains.items() if k in self.members and g > margin}
        joining = {k: g for k, g in gains.items() if k not in self.members and g > margin}
        for moves in (leaving, joining):
            if moves:
                self.members ^= {max(moves, key=moves.get)}
                return

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

    def __init__(self, model, penalty=None) -> None:
        super().__init__(model)
        market = model.market
        self.sign(MECHANISMS[model.mechanism].contract)
        self.profit = np.zeros(0)
        self.total_profit = 0.0
        if penalty is not None and not (isinstance(penalty, (int, float, np.number)) and penalty >= 1):
            raise ValueError(f"broker_penalty must be None or a number >= 1 (times b_k), got {penalty!r}")
        self.penalty = None if penalty is None else float(penalty)
        self.prices = market.upper.copy()
        self.expected_profit = 0.0
        self.seen = [np.zeros(0) for _ in range(market.n_domains)]
        self.outside = np.zeros(0)
        if self.penalty is not None:
            self.choose()

    @property
    def acts(self) -> bool:
        """Whether the broker sets its own prices (``broker_penalty`` given)."""
        return self.penalty is not None

    def choose(self) -> None:
        """Before a round: prices from the empirical distribution of the reports seen so far
        (``b_k`` while nothing is seen), then the contract (M5's or M6's) of larger expected
        profit ``sum_k y_k(z) pi_k(q_k)``; ties keep the mechanism's own contract."""
        market = self.model.market
        chosen = [empirical_posted_price(seen, b, self.penalty * b) for seen, b in zip(self.seen, market.upper)]
        self.prices = np.array([price for price, _ in chosen])
        unit = np.array([profit for _, profit in chosen])
        own = MECHANISMS[self.model.mechanism].contract
        values = {anchor: float(anchored_allocation(market, anchor) @ unit) for anchor in ("upper", "mean")}
        other = "mean" if own == "upper" else "upper"
        self.sign(other if values[other] > values[own] else own)
        self.expected_profit = values[self.anchor]

    def sign(self, anchor: str) -> None:
        """Sign the contract of ``anchor`` (``"upper"``: M5's, ``"mean"``: M6's): ``z = x`` at
        those costs and ``t = b . z^rho``."""
        market = self.model.market
        y = anchored_allocation(market, anchor)
        self.anchor, self.contract, self.transfer = anchor, y ** (1.0 / market.rho), float(market.upper @ y)

    def settle(self, reports: np.ndarray) -> None:
        """Buy the contract from the creators and deliver it for ``t``."""
        model = self.model
        if self.acts:
            self._settle_at_prices(reports)
            return
        y, payments = mechanism_round(model.market, model.mechanism, reports)
        for creator in model.creators:
            creator.book(y[:, creator.domain], payments[:, creator.domain])
        self.profit = self.transfer - payments.sum(axis=1)
        self.total_profit += float(self.profit.sum())
        model.platform.pay(np.full(len(reports), self.transfer))

    def _settle_at_prices(self, reports: np.ndarray) -> None:
        """Creators whose cost is at most the posted price deliver ``z_k`` for ``q_k y_k``; the
        rest is bought outside at ``P_k = penalty b_k`` per unit. Then re-estimate and re-choose."""
        model, market = self.model, self.model.market
        y = np.broadcast_to(self.contract ** market.rho, reports.shape)
        accept = model.round_costs() <= self.prices
        payments = np.where(accept, self.prices * y, 0.0)
        self.outside = np.where(accept, 0.0, self.penalty * market.upper * y).sum(axis=1)
        for creator in model.creators:
            k = creator.domain
            creator.book(np.where(accept[:, k], y[:, k], 0.0), payments[:, k])
            self.seen[k] = np.concatenate([self.seen[k], reports[:, k]])
        self.profit = self.transfer - payments.sum(axis=1) - self.outside
        self.total_profit += float(self.profit.sum())
        model.platform.pay(np.full(len(reports), self.transfer))
        self.choose()
