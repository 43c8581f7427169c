"""The forward-looking firm, applied to the agents by model-predictive control.

Under strict IP a firm that looks ahead posts the first price of the uniform price path that
maximises the present value of its profit, service value of its model minus payments
(:func:`abm.theory.planner.forward_looking_prices`), planned from the agents' actual stocks
over a receding horizon of :data:`LOOKAHEAD` in blocks of :data:`REPLAN_EVERY`, and re-plans
every :data:`REPLAN_EVERY` units of time, warm-started from its previous plan. It values
precision and discounts with the scenario's ``[market] service_value`` and
``discount_rate``, and plans against the analytic supply curves of the scenario (it knows
the distribution of outside options, not each agent's). Its plans need one loading and one
cost per type.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ForwardLookingPricing", "LOOKAHEAD", "REPLAN_EVERY", "PLAN_DT"]

#: Receding planning horizon (units of time).
LOOKAHEAD = 50.0
#: Time between re-plans, and the length of a block of the plan's piecewise-constant price.
REPLAN_EVERY = 2.0
#: Round length of the plan's grid (coarser than the agents' rounds when they are short).
PLAN_DT = 0.5


class ForwardLookingPricing:
    """A pricing rule (``price(model)``, ``observe(...)``) that plans ahead and re-plans every block."""

    def __init__(self, lookahead: float = LOOKAHEAD, replan_every: float = REPLAN_EVERY,
                 plan_dt: float = PLAN_DT) -> None:
        self.lookahead, self.replan_every, self.plan_dt = lookahead, replan_every, plan_dt
        self.plans = 0
        self._price = 0.0
        self._next_plan: float | None = None
        self._warm: np.ndarray | None = None

    def price(self, model) -> float:
        """The current plan's first price; a new plan once a block has passed."""
        if self._next_plan is None or model.time >= self._next_plan - 1e-12:
            self._plan(model)
        return self._price

    def _plan(self, model) -> None:
        from abm.theory.planner import forward_looking_prices

        if not model.market.is_homogeneous:
            raise ValueError("the forward-looking firm plans with one loading and one cost per type; this "
                             "scenario's are distributed")
        dt = max(self.plan_dt, model.dt)
        intervals = max(1, int(round(self.lookahead / self.replan_every)))
        plan = forward_looking_prices(model.market, model.stocks, model.scenario.welfare, horizon=self.lookahead,
                                      dt=dt, intervals=intervals, initial=self._warm)
        self._price = float(plan.first_price)
        self._warm = np.append(plan.controls[1:, 0], plan.controls[-1, 0])
        self._next_plan = model.time + self.replan_every
        self.plans += 1

    def observe(self, model, price: float, profit: float) -> None:
        """Nothing to learn: it re-plans from the stocks instead."""
