"""Chosen originality in the agent-based model: creators who choose their style.

The rule ``chosen_originality`` (economics and fluid counterpart in
:mod:`abm.theory.originality`, ``docs/behaviours.md``): every creator of the type has a style
from the type's menu (a loading and a cost), enters at its style's entry price
``sqrt(2 c_j omega)`` and exerts ``p / c_j``; after each round a share ``rho`` of the type's
creators (one uniform per creator, in creator order, from the model's generator, drawn
before anyone decides) revise their style to the one the round's prices pay most. The new
style takes effect from the next round, so the round's content carries the loading it was
made with.

Where the state lives.

* Each creator's style is ``model.population.style[index]`` (the index into its type's menu,
  kept by its :class:`ChosenOriginality` rule; ``Creator.beta`` and ``Creator.cost`` read its
  current style's loading and cost, ``Creator.entry_price`` its entry price).
* The population runs on its path for per-creator loadings and costs (as a scenario with
  distributed loadings): the model's precision comes from the loading moments of the stocks,
  ``sum X``, ``sum beta X``, ``sum beta^2 X``, to which each round adds its content with the
  loadings it was made with, so old content keeps its style exactly; the intermediary posts
  each creator ``v m_i`` at its current style's marginal value.
* :class:`StyleBehaviours` also keeps one data stock per (type, style) (:attr:`StyleBehaviours.history`
  records them with the shares after every round): what the fluid map tracks, and what the
  docking test compares. A type's initial stock keeps the type's own loading from the
  scenario (``beta``); content from the first round on carries the style's.

The firm's price against the (type, style) groups never rebuilds their supply curve:
:class:`StyleUniverse` merges every entry price a creator could have once, at build, cuts the
merge into blocks, keeps each group's count of current members per block as creators switch
(a round costs the movers, not the population) and finds the curve's best price, bit for bit,
by branch and bound over the blocks. With the compiled loops each type's decisions, revisions,
per-style inflows, stock update and the round's sums are one pass (:func:`_decide_styles`).

A type that best-responds beside a choosing type is run as a one-style menu (its own loading
and cost); other rules cannot run beside ``chosen_originality``.
"""

from __future__ import annotations

import numpy as np

from abm.simulation.dynamic_market.behaviours import BEHAVIOURS, CreatorBehaviours, EntryRule
from abm.theory.fluid import PricingContext
from abm.theory.originality import initial_styles, style_margins, style_payoffs
from abm.theory.supply import entry_price

__all__ = ["ChosenOriginality", "StyleBehaviours", "style_history"]

try:  # the optional compiled loops (abm[fast])
    import numba
    from numba.extending import register_jitable as _callable_from_compiled
except ImportError:  # pragma: no cover - numba is optional
    numba = None

    def _callable_from_compiled(function):
        return function

TYPE_NAMES = ("innovators", "rank_and_file")
#: Regimes whose unit price for a creator is a function of its marginal value alone (or the firm's
#: uniform price), so the price each style would fetch is the regime's price at the style's value.
MARGIN_PRICED = ("strict_ip", "intermediary", "intermediary_shadow", "free_for_all", "statutory_license",
                 "collective_pool")


class ChosenOriginality(EntryRule):
    """Best response in the creator's current style; a Calvo share ``rho`` revise the style each round.

    ``behaviour`` is ``None`` for a best-responding type run beside a choosing one (a one-style
    menu: the type's own loading and cost; it draws nothing).
    """

    name = "chosen_originality"

    def __init__(self, behaviour, population, k: int) -> None:
        super().__init__(behaviour, population, k)
        if behaviour is None:
            self.betas = np.array([population.type_beta[k]])
            self.costs = np.array([population.type_cost[k]])
            self.names, self.rate = ("own",), 0.0
        else:
            menu = behaviour["styles"]
            self.betas, self.costs, self.names = np.array(menu.betas), np.array(menu.costs), menu.names
            self.rate = behaviour["revision_rate"]
        self.size = self.stop - self.start
        self.style = initial_styles(self.size, self.betas.size)
        self.pending = self.style.copy()  # equal to the styles between rounds; revisers' new style within one
        self.counts = np.bincount(self.style, minlength=self.betas.size)  # creators per style
        self._inflows = None  # this round's effort per style, when the compiled pass summed it
        self.sums = None  # the round's sums over the type, when the compiled pass made them
        self._movers = np.empty(self.size, dtype=np.int64)
        self._moving = None  # how many creators the compiled pass saw revise (their positions in _movers)
        self.draws = np.ones(self.size)
        self.best, self.payoffs = 0, np.zeros(self.betas.size)

    @property
    def compiled(self) -> bool:
        """Whether the type decides over the arrays in one compiled pass (:meth:`decide_and_store`)."""
        return self.population.compiled

    @property
    def draws_numbers(self) -> bool:
        return self.rate > 0.0

    def write_characteristics(self, local=None) -> None:
        """Write the loading, cost, entry price and style of every creator of the type (or of the
        creators at positions ``local`` within it) into the population's arrays."""
        population = self.population
        if local is None:
            index, style, options = slice(self.start, self.stop), self.style, self.options
        else:
            index, style, options = self.start + local, self.style[local], self.options[local]
        population.beta[index] = self.betas[style]
        population.cost[index] = self.costs[style]
        population.entry_price[index] = entry_price(options, population.cost[index])
        population.style[index] = style

    def members(self, style: int) -> np.ndarray:
        """Population indices of the type's creators in ``style``, in outside-option order."""
        return self.start + np.flatnonzero(self.style == style)

    def set_style_prices(self, prices) -> None:
        """The prices each style fetches this round; revisers will move to the best paying one."""
        self.payoffs = style_payoffs(prices, self.costs)
        self.best = int(np.argmax(self.payoffs))

    def prepare(self, rng) -> None:
        self._inflows = self.sums = self._moving = None
        if self.draws_numbers:
            rng.random(out=self.draws)  # the numbers rng.random(size) would draw, into the array kept

    def enters(self, offered, index):
        return np.greater_equal(offered, self.population.entry_price[index])

    def decide(self, index: int) -> None:
        population, local = self.population, index - self.start
        active = bool(self.enters(population.offered[index], index))
        population.active[index] = active
        population.effort[index] = population.offered[index] / population.cost[index] if active else 0.0
        style = self.style[local]
        if self.draws[local] < self.rate and self.payoffs[self.best] > self.payoffs[style]:
            self.pending[local] = self.best

    def _revision(self) -> tuple:
        """The styles whose creators would move this round, and whether anyone can."""
        worse = self.payoffs[self.best] > self.payoffs
        return worse, self.rate > 0.0 and bool(np.any(worse & (self.counts > 0)))

    def decide_and_store(self) -> None:
        """:meth:`decide_all` and the stock update, with the per-style inflows, the movers and the
        type's sums of the round, in one compiled pass (:func:`_decide_styles`)."""
        population, segment = self.population, slice(self.start, self.stop)
        worse, revising = self._revision()
        self._inflows, self.sums = np.zeros(self.betas.size), np.empty(7)
        self._moving = _decide_styles_compiled(
            population.offered[segment], population.entry_price[segment], population.cost[segment],
            population.beta[segment], population.outside_option[segment], population.active[segment],
            population.effort[segment], self.style, self.draws, self.rate if revising else 0.0, worse,
            self.best, self.pending, self._inflows, self._movers, self.sums, population.stock[segment],
            float(population.type_mass[self.k]), population.decay, population.growth)

    def decide_all(self) -> None:
        """Every creator's entry, effort and revision over the arrays."""
        population, segment = self.population, slice(self.start, self.stop)
        worse, revising = self._revision()
        offered = population.offered[segment]
        active = self.enters(offered, segment)
        population.active[segment] = active
        population.effort[segment] = np.where(active, offered / population.cost[segment], 0.0)
        if revising:
            revise = self.draws < self.rate
            revise &= worse[self.style]
            self.pending[revise] = self.best

    def style_inflows(self) -> np.ndarray:
        """This round's content per style, ``sum mass_i e_i`` over the style's creators."""
        if self._inflows is not None:
            return self.population.type_mass[self.k] * self._inflows
        effort = self.population.effort[self.start:self.stop]
        # One style: numpy's (pairwise) sum, cheaper than bincount. With the compiled loops the
        # agent-by-agent path must add in creator order, as the compiled pass does: bincount does.
        if self.betas.size == 1 and not self.compiled:
            return np.array([self.population.type_mass[self.k] * effort.sum()])
        return self.population.type_mass[self.k] * np.bincount(self.style, weights=effort,
                                                               minlength=self.betas.size)

    def switch(self) -> tuple:
        """Adopt the styles chosen this round (content from the next round on carries them).

        Returns the movers (positions within the type, ascending) and the styles they left; only
        their characteristics are rewritten.
        """
        if self._moving is not None:  # the compiled pass listed them
            movers = self._movers[:self._moving]
        else:
            movers = np.flatnonzero(self.pending != self.style)
        left = self.style[movers]
        if movers.size:
            size = self.betas.size
            self.counts -= np.bincount(left, minlength=size)
            self.counts += np.bincount(self.pending[movers], minlength=size)
            self.style[movers] = self.pending[movers]
            self.write_characteristics(movers)
        return movers, left

    def state(self, index: int) -> dict:
        """``style``: the name of the creator's current style (its loading and cost follow it)."""
        return {"style": self.names[self.style[index - self.start]]}

    def shares(self) -> np.ndarray:
        return self.counts / self.size


def _decide_styles(offered, entry, cost, beta, outside, active, effort, style, draws, rate, worse, best, pending,
                   inflows, movers, sums, stock, mass, decay, growth):
    """:meth:`ChosenOriginality.decide_all` over one type in one pass; returns how many creators revise.

    Entry (``offered >= entry``), effort ``offered / cost``, the stock update
    ``decay X + growth (mass e)`` (the arithmetic of
    :func:`~abm.simulation.dynamic_market.kernels.stock_update`), this round's effort per style
    summed in creator order (as ``np.bincount`` sums it), the revisers' new style (``draws < rate``
    in a style that pays less than ``best``; their positions in ``movers``, ascending) and the
    type's round sums in ``sums``: delivered, active count, payments, twice the effort cost,
    outside options given up, and the first two loading moments of the content, added in creator
    order with the arithmetic of :func:`~abm.simulation.dynamic_market.kernels.creator_sums`
    (which the agent-by-agent path uses, so both paths get the same bits). Those lines are written
    out as in :func:`~abm.simulation.dynamic_market.kernels.creator_round` rather than shared: a
    shared helper returning the seven sums made both compiled loops 1.7 to 2.3 times slower
    (measured).
    """
    delivered = count = payments = costs = given_up = first = second = 0.0
    moving = 0
    for i in range(offered.shape[0]):
        price = offered[i]
        c = cost[i]
        if price >= entry[i]:
            e = price / c
            active[i] = True
            count += 1.0
            given_up += outside[i]
        else:
            e = 0.0
            active[i] = False
        effort[i] = e
        s = style[i]
        inflows[s] += e
        if draws[i] < rate and worse[s]:
            pending[i] = best
            movers[moving] = i
            moving += 1
        d = mass * e
        stock[i] = decay * stock[i] + growth * d
        delivered += d
        payments += price * d
        costs += c * e * d
        weighted = d * beta[i]
        first += weighted
        second += weighted * beta[i]
    sums[0], sums[1], sums[2], sums[3] = delivered, count, payments, costs
    sums[4], sums[5], sums[6] = given_up, first, second
    return moving


#: Universe entries per block of :class:`StyleUniverse`'s price search (a block may run a little
#: longer so that equal entry prices never straddle two blocks).
STYLE_BLOCK = 1024
#: Relative margin by which a block's bound must fall short of the best profit to be dropped
#: (as :data:`abm.theory.empirical.PRUNE_MARGIN`: far above the rounding of bound and profits).
STYLE_PRUNE_MARGIN = 1e-12


@_callable_from_compiled
def _piece_profit(sums, counts, coefficients, scale, low, high):
    """The clipped vertex and profit of the piece of prices ``[low, high)`` on which ``counts[g]``
    creators of each group are active: the arithmetic of
    :func:`~abm.simulation.dynamic_market.kernels.best_piece`, so bit for bit the curve's."""
    n_groups = counts.shape[0]
    valuable = coefficients[0] * sums[0, counts[0]]
    for g in range(1, n_groups):
        valuable += coefficients[g] * sums[g, counts[g]]
    if scale != 1.0:
        valuable *= scale
    if n_groups == 1:
        total = sums[0, counts[0]]
    else:
        total = sums[0, counts[0]] + sums[1, counts[1]]
        for g in range(2, n_groups):
            total += sums[g, counts[g]]
    candidate = valuable / (2.0 * total)
    top = np.nextafter(high, 0.0)
    if candidate < low:
        candidate = low
    if candidate > top:
        candidate = top
    return candidate, candidate * (valuable - candidate * total)


@_callable_from_compiled
def _first_held_after(values, creator, style, current, starts, following):
    """The lowest held entry price from block ``following`` on (``inf`` if none: ``following`` is
    the first block after the one asking that holds anyone, or the number of blocks)."""
    if following >= starts.shape[0] - 1:
        return np.inf
    for m in range(starts[following], starts[following + 1]):
        if current[creator[m]] == style[m]:
            return values[m]
    return np.inf  # not reached: the block holds someone


@_callable_from_compiled
def _block_pieces(values, group, creator, style, current, starts, ends, sums, coefficients, scale, block,
                  following, counts, best_price, best_profit):
    """Every piece of the curve that starts in block ``block`` (at a held entry price in it; the last
    one ends at the first held price from block ``following`` on) evaluated exactly; returns the
    better of ``(best_price, best_profit)`` and the block's best (equal profits: the lower price)."""
    for g in range(ends.shape[0]):
        counts[g] = ends[g, block - 1] if block > 0 else 0
    start, open_piece = 0.0, False
    for m in range(starts[block], starts[block + 1]):
        if current[creator[m]] != style[m]:
            continue
        value = values[m]
        if open_piece and value > start:
            price, profit = _piece_profit(sums, counts, coefficients, scale, start, value)
            if profit > best_profit or (profit == best_profit and profit > 0.0 and price < best_price):
                best_price, best_profit = price, profit
        start, open_piece = value, True
        counts[group[m]] += 1
    if open_piece:
        end = _first_held_after(values, creator, style, current, starts, following)
        price, profit = _piece_profit(sums, counts, coefficients, scale, start, end)
        if profit > best_profit or (profit == best_profit and profit > 0.0 and price < best_price):
            best_price, best_profit = price, profit
    return best_price, best_profit


def _style_best_price(values, group, creator, style, current, starts, ends, sums, coefficients, scale, monotone):
    """The myopic price against the (type, style) groups' current entry prices, 0 when no price
    earns a positive profit rate: branch and bound over the blocks of :class:`StyleUniverse`.

    Each piece of the curve belongs to the block holding its first price. For the pieces of block
    ``b`` the active set holds at least the held entries of the blocks before ``b`` and at most
    those up to ``b``'s end, and their prices lie between ``b``'s first entry price and the last
    entry price of the next block that holds anyone; so ``p (A_end - p B_start)`` maximised over
    that range bounds their profits. The most promising block is scanned first; every other
    block whose bound reaches the best profit so far (less a relative rounding margin) is scanned.
    """
    n_groups, n_blocks = ends.shape[0], ends.shape[1]
    # -inf: no piece starts in the block, or none can earn a positive profit (A_end <= 0)
    bounds, slack, following = np.full(n_blocks, -np.inf), np.zeros(n_blocks), np.empty(n_blocks, dtype=np.int64)
    after = n_blocks  # the first block after b that holds anyone
    for b in range(n_blocks - 1, -1, -1):
        following[b] = after
        held, valuable, total = 0, coefficients[0] * sums[0, ends[0, b]], 0.0
        for g in range(n_groups):
            below = ends[g, b - 1] if b > 0 else 0
            held += ends[g, b] - below
            total += sums[g, below]
            if g > 0:
                valuable += coefficients[g] * sums[g, ends[g, b]]
        valuable *= scale
        if held == 0:
            continue
        if not monotone or total <= 0.0:
            bounds[b] = np.inf
        elif valuable > 0.0:
            low = values[starts[b]]
            high = values[starts[after + 1] - 1] if after < n_blocks else np.inf
            price = min(max(valuable / (2.0 * total), low), high)
            bounds[b] = price * (valuable - price * total)
            slack[b] = price * (valuable + price * total)
        after = b
    counts = np.zeros(n_groups, dtype=np.int64)
    best_price, best_profit = 0.0, 0.0
    top = int(np.argmax(bounds))
    if bounds[top] > -np.inf:  # the most promising block first: its profit is the floor to beat
        best_price, best_profit = _block_pieces(values, group, creator, style, current, starts, ends, sums,
                                                coefficients, scale, top, following[top], counts, best_price,
                                                best_profit)
    for b in range(n_blocks):
        if b == top or bounds[b] == -np.inf:
            continue
        if bounds[b] < best_profit - STYLE_PRUNE_MARGIN * (slack[b] + best_profit):
            continue
        best_price, best_profit = _block_pieces(values, group, creator, style, current, starts, ends, sums,
                                                coefficients, scale, b, following[b], counts, best_price,
                                                best_profit)
    return best_price


if numba is not None:
    _decide_styles_compiled = numba.njit(cache=True, nogil=True)(_decide_styles)
    _style_best_price_compiled = numba.njit(cache=True, nogil=True)(_style_best_price)


class StyleUniverse:
    """Every entry price a creator could have, one per (creator, style of its type's menu), merged once.

    The (type, style) groups of the firm's supply curve are each a subsequence of this merge (the
    creators currently in that style, in outside-option order). :meth:`best_price` prices against
    that curve without building it. The merge is cut into blocks of about :data:`STYLE_BLOCK`
    entries (equal prices never straddle two), and each group's count of current members up to
    the end of every block is kept (``ends``) and moved when creators switch (:meth:`move`: the
    movers' blocks, then a running sum over blocks). Each piece of the curve belongs to the block
    holding its first price; for the pieces of block ``b`` the active set's value is at most
    ``A_end`` (all held entries up to ``b``'s end) and its weight at least ``B_start`` (those
    before ``b``), so their profit is at most ``p (A_end - p B_start)`` over their price range:
    branch and bound over the blocks, the survivors scanned entry by entry with the arithmetic of
    the piece scan, so the price is bit for bit that of
    :meth:`~abm.theory.empirical.EmpiricalSupply.from_sorted`'s curve of the groups
    (``tests/test_originality_speed.py``: random universes with ties, and model runs).

    The entry prices are :func:`~abm.theory.supply.entry_price` of the creators' own outside
    options and costs; ``sums[g, c]`` is group ``g``'s weight over its ``c`` cheapest members, a
    running sum as :meth:`~abm.theory.empirical.EmpiricalSupply.from_sorted` makes it.
    """

    def __init__(self, rules, population, compiled: bool, block: int = STYLE_BLOCK) -> None:
        values, group, creator, style, sizes, weights = [], [], [], [], [], []
        self.first_group = []  # each rule's first group
        for rule in rules:
            self.first_group.append(len(sizes))
            for j, cost in enumerate(rule.costs):
                values.append(entry_price(rule.options, cost))
                group.append(np.full(rule.size, len(sizes), dtype=np.int8))
                creator.append(np.arange(rule.start, rule.stop, dtype=np.int64))
                style.append(np.full(rule.size, j, dtype=population.style.dtype))
                sizes.append(rule.size)
                weights.append(population.type_mass[rule.k] / cost)
        if len(sizes) > np.iinfo(np.int8).max:
            raise ValueError(f"chosen_originality supports at most 127 (type, style) groups, got {len(sizes)}")
        values = np.concatenate(values)
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        self.group, self.creator, self.style = (np.concatenate(a)[order] for a in (group, creator, style))
        self.compiled = bool(compiled and numba is not None)
        self.block = int(block)
        self._build_search(order, population.style, sizes, weights)

    # --- the price without the curve -----------------------------------------------------------

    def _build_search(self, order: np.ndarray, current, sizes: list, weights: list) -> None:
        """Where each (group, member) sits in the merge (``order`` sorted the groups' entries, group
        after group, of ``sizes`` members with effort weights ``weights``), each group's running
        sums of its weights, the blocks and ``ends``."""
        self.position = np.empty(order.size, dtype=np.int64)  # group g's member i: position[offset[g] + i]
        self.position[order] = np.arange(order.size)
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.n_groups = len(sizes)
        self.sums = np.zeros((self.n_groups, max(sizes) + 1))  # padded with 0 past a group's size (never read)
        for g, (size, weight) in enumerate(zip(sizes, weights)):
            np.cumsum(np.full(size, weight), out=self.sums[g, 1:size + 1])
        self.starts = self._block_starts()
        self.n_blocks = self.starts.size - 1
        self.ends = self.block_counts(current)

    def _block_starts(self) -> np.ndarray:
        """Where each block starts in the merge (and, last, its length): every ``block`` entries, moved
        on to the next rise in price so that equal prices share a block."""
        values = self.values
        rises = np.flatnonzero(values[1:] > values[:-1]) + 1  # the positions that may start a block
        starts, position = [0], 0
        while True:
            index = int(rises.searchsorted(position + self.block))
            if index == rises.size:
                break
            position = int(rises[index])
            starts.append(position)
        starts.append(values.size)
        return np.array(starts, dtype=np.int64)

    def _block_of(self, positions) -> np.ndarray:
        """The block holding each merge position."""
        return self.starts.searchsorted(positions, side="right") - 1

    def block_counts(self, current) -> np.ndarray:
        """Each group's count of members in their current style up to the end of every block,
        counted afresh (``(groups, blocks)``; :meth:`move` keeps it without a recount)."""
        held = np.flatnonzero(current[self.creator] == self.style)
        cells = self.group[held].astype(np.int64) * self.n_blocks + self._block_of(held)
        counts = np.bincount(cells, minlength=self.n_groups * self.n_blocks).reshape(self.n_groups, self.n_blocks)
        return np.cumsum(counts, axis=1)

    def move(self, rule_index: int, movers: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Creators ``movers`` (positions within rule ``rule_index``'s type) left styles ``old`` for ``new``."""
        if movers.size == 0:
            return
        first = self.first_group[rule_index]
        n_cells = self.n_groups * self.n_blocks
        change = np.zeros(n_cells, dtype=np.int64)
        for styles, sign in ((old, -1), (new, 1)):
            groups = first + styles
            blocks = self._block_of(self.position[self.offset[groups] + movers])
            change += sign * np.bincount(groups * self.n_blocks + blocks, minlength=n_cells)
        self.ends += np.cumsum(change.reshape(self.n_groups, self.n_blocks), axis=1)

    def best_price(self, current, margins, value: float) -> float:
        """The myopic price against the groups' current entry prices (group ``g``'s marginal value
        ``margins[g]``): the exact best response, bit for bit ``supply(current).best_price(margins, value)``.

        Compiled: :func:`_style_best_price`. Numpy: the same bounds over all blocks at once, the
        most promising block scanned for a floor, then every block whose bound reaches it scanned
        together (:meth:`_scan_blocks`).
        """
        margins = np.ascontiguousarray(margins, dtype=float)
        monotone = bool(np.all(margins >= 0.0))
        if self.compiled:
            return float(_style_best_price_compiled(self.values, self.group, self.creator, self.style, current,
                                                    self.starts, self.ends, self.sums, margins, float(value),
                                                    monotone))
        bounds, slack, following = self._block_bounds(margins, float(value), monotone)
        top = int(np.argmax(bounds))
        if bounds[top] == -np.inf:
            return 0.0
        _, floor = self._scan_blocks(np.array([top]), following, current, margins, float(value))
        survivors = bounds >= floor - STYLE_PRUNE_MARGIN * (slack + floor)
        survivors[top] = True
        price, _ = self._scan_blocks(np.flatnonzero(survivors), following, current, margins, float(value))
        return price

    def _block_bounds(self, margins, value: float, monotone: bool) -> tuple:
        """Every block's bound on the profit of the pieces starting in it, the rounding scale of
        the bound, and the first later block that holds anyone (as :func:`_style_best_price`)."""
        ends, n_blocks = self.ends, self.n_blocks
        below = np.zeros_like(ends)
        below[:, 1:] = ends[:, :-1]
        rows = np.arange(ends.shape[0])[:, None]
        at_end, at_start = self.sums[rows, ends], self.sums[rows, below]
        valuable = margins[0] * at_end[0]
        for g in range(1, ends.shape[0]):
            valuable += margins[g] * at_end[g]
        valuable *= value
        total = at_start.sum(axis=0)
        nonempty = np.flatnonzero((ends - below).sum(axis=0) > 0)
        later = nonempty.searchsorted(np.arange(n_blocks), side="right")
        following = np.append(nonempty, n_blocks)[later]
        high = np.full(n_blocks, np.inf)
        known = following < n_blocks
        high[known] = self.values[self.starts[following[known] + 1] - 1]
        bounds, slack = np.zeros(n_blocks), np.zeros(n_blocks)
        if not monotone:
            bounds[:] = np.inf
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                price = np.clip(valuable / (2.0 * total), self.values[self.starts[:-1]], high)
                bounds = np.where(valuable > 0.0, price * (valuable - price * total), -np.inf)
                slack = np.where(valuable > 0.0, price * (valuable + price * total), 0.0)
            bounds[total <= 0.0] = np.inf
        empty = np.ones(n_blocks, dtype=bool)
        empty[nonempty] = False
        bounds[empty] = -np.inf  # no piece starts there; -inf too: no piece can earn a positive profit
        return bounds, np.nan_to_num(slack, posinf=0.0), following

    def _scan_blocks(self, blocks: np.ndarray, following: np.ndarray, current, margins, value: float) -> tuple:
        """``(price, profit)`` of the best piece starting in ``blocks`` (ascending), ``(0, 0)`` if no
        piece there earns a positive profit: the pieces' arithmetic is
        :meth:`~abm.theory.empirical.EmpiricalSupply.best_price`'s, so the bits are the curve's."""
        first, lengths = self.starts[blocks], self.starts[blocks + 1] - self.starts[blocks]
        block_of = np.repeat(np.arange(blocks.size), lengths)
        index = np.arange(lengths.sum()) + np.repeat(first - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        kept = current[self.creator[index]] == self.style[index]
        index, block_of = index[kept], block_of[kept]
        if index.size == 0:
            return 0.0, 0.0
        values, group = self.values[index], self.group[index]
        # The last held entry of each run of equal prices in its block starts a piece ...
        last = np.ones(index.size, dtype=bool)
        last[:-1] = (values[1:] > values[:-1]) | (block_of[1:] != block_of[:-1])
        end = np.empty(index.size)
        end[:-1] = values[1:]
        # ... which ends at the next held price: in the block, or the first from the next block that holds anyone.
        closing = np.append(block_of[1:] != block_of[:-1], True)
        for position in np.flatnonzero(closing):
            end[position] = self._first_held(int(following[blocks[block_of[position]]]), current)
        previous = np.where(blocks > 0, blocks - 1, 0)
        rows = np.empty((self.n_groups, int(last.sum())))
        for g in range(self.n_groups):
            member = group == g
            running = np.cumsum(member)
            block_start = np.flatnonzero(np.append(True, block_of[1:] != block_of[:-1]))
            within = running - np.repeat(running[block_start] - member[block_start], np.diff(np.append(block_start,
                                                                                                         index.size)))
            before = np.where(blocks > 0, self.ends[g, previous], 0)[block_of]
            rows[g] = self.sums[g, (before + within)[last]]
        start, end = values[last], end[last]
        valuable = margins[0] * rows[0]
        for g in range(1, rows.shape[0]):
            valuable += margins[g] * rows[g]
        if value != 1.0:
            valuable *= value
        total = rows[0] if rows.shape[0] == 1 else rows[0] + rows[1]
        for g in range(2, rows.shape[0]):
            total += rows[g]
        candidate = valuable / (2.0 * total)
        np.maximum(candidate, start, out=candidate)
        np.minimum(candidate, np.nextafter(end, 0.0), out=candidate)
        profit = candidate * (valuable - candidate * total)
        best = int(np.argmax(profit))
        return (float(candidate[best]), float(profit[best])) if profit[best] > 0.0 else (0.0, 0.0)

    def _first_held(self, block: int, current) -> float:
        """The lowest held entry price in ``block`` (``inf`` past the last block)."""
        if block >= self.n_blocks:
            return np.inf
        span = slice(self.starts[block], self.starts[block + 1])
        held = np.flatnonzero(current[self.creator[span]] == self.style[span])
        return float(self.values[self.starts[block] + held[0]]) if held.size else np.inf


class StyleBehaviours(CreatorBehaviours):
    """The model's creators when some type follows ``chosen_originality``.

    Requires the scenario's types to have one loading and one cost each, the other type on
    ``best_response`` or ``chosen_originality``, and a myopic or learning firm; runs under
    the regimes that price from marginal values (the price a style fetches is the regime's unit
    price at the style's marginal value; :data:`MARGIN_PRICED`). Turns the population's loadings and costs into per-creator arrays that
    follow the styles.
    """

    def __init__(self, model) -> None:
        population, scenario = model.population, model.scenario
        if population.heterogeneous or any(c is None for c in population.type_cost):
            raise ValueError("chosen_originality needs each type of the scenario to have one loading and one cost "
                             "(the styles replace them)")
        others = sorted({b.rule for b in scenario.behaviours} - {"chosen_originality", "best_response"})
        if others:
            raise ValueError(f"chosen_originality runs beside best_response only, not beside rule {others[0]!r}")
        if scenario.simulation.regime not in MARGIN_PRICED:
            raise ValueError(f"chosen_originality runs under simulation.regime in {list(MARGIN_PRICED)} (where a "
                             f"style's price follows from its marginal value), got {scenario.simulation.regime!r}")
        if scenario.simulation.firm not in ("myopic", "learning"):
            raise ValueError("chosen_originality runs with simulation.firm = 'myopic' or 'learning'")
        self.model, self.population = model, population
        self.rules = [ChosenOriginality(b if b.rule == "chosen_originality" else None, population, k)
                      for k, b in enumerate(scenario.behaviours)]
        self._per_creator_characteristics()
        self.style_stocks = [np.zeros(rule.betas.size) for rule in self.rules]
        self.history: list = []
        self._universe = StyleUniverse(self.rules, population, model.compiled)  # every entry price a creator could have

    def _per_creator_characteristics(self) -> None:
        """Loadings and costs per creator, following the styles; the initial stocks keep the types' loadings."""
        population = self.population
        size = population.size
        beta, cost = np.empty(size), np.empty(size)
        population.__dict__.update(beta=beta, cost=cost)
        population.style = np.zeros(size, dtype=np.int64)
        population._per_creator = {"beta": [beta[a:b] for a, b in population.bounds],
                                   "cost": [cost[a:b] for a, b in population.bounds]}
        population.initial_moments = np.array([[population.initial_stock[k] * (stop - start)
                                                * population.type_beta[k] ** r
                                                for k, (start, stop) in enumerate(population.bounds)]
                                               for r in range(3)])
        population.type_cost = (None, None)
        population.heterogeneous, population.moment_orders = True, 3
        population.prefix_order = False  # entry prices no longer follow each type's order
        for rule in self.rules:
            rule.write_characteristics()

    # --- a round -----------------------------------------------------------------------------

    def step_all(self) -> None:
        """Every creator's decision and stock update over the arrays; with the compiled loops one
        pass per type (the same arithmetic as deciding, then updating the stocks)."""
        if not self.population.compiled:
            super().step_all()
            return
        for rule in self.rules:
            rule.decide_and_store()

    def price(self, model) -> float:
        """The myopic firm's exact best response to this round's entry prices over the (type, style)
        groups (each in outside-option order, hence ascending), with each style's marginal value:
        the block search of :meth:`StyleUniverse.best_price` (compiled or numpy), which gives the
        groups' supply curve's price without building the curve."""
        margins = np.concatenate([style_margins(model.lam, model.feedback, rule.betas) for rule in self.rules])
        return self._universe.best_price(self.population.style, margins, model.market.value)

    def style_prices(self, rule) -> np.ndarray:
        """The unit price each of ``rule``'s styles fetches this round under the regime (0 if the
        round was called off)."""
        model = self.model
        posted = np.asarray(model.firm.prices, dtype=float)
        if not posted.any():
            return np.zeros(rule.betas.size)
        uniform = float(posted.max())
        margins = style_margins(model.lam, model.feedback, rule.betas)
        context = PricingContext(model.market.value, margins, lambda: uniform, model.market.depreciation)
        return np.asarray(model.regime.unit_prices(context, model.scenario.regime), dtype=float)

    def prepare(self) -> None:
        for rule in self.rules:
            rule.set_style_prices(self.style_prices(rule))
            rule.prepare(self.model.rng)

    def settle(self) -> None:
        """Sum the round with the styles it was made in, keep the per-style stocks, then switch styles.

        The model sums the round (``population.totals``) after this call; the totals are summed
        here first, with the loadings and costs the content was made with, and kept (the
        population caches a round's totals until the next offer).
        """
        population = self.population
        population.prices = None
        self._sum_round()
        for k, rule in enumerate(self.rules):
            self.style_stocks[k] = population.decay * self.style_stocks[k] + population.growth * rule.style_inflows()
            movers, left = rule.switch()
            self._universe.move(k, movers, left, rule.style[movers])
        self.model._type_moments = self.type_moments()
        self.history.append(self._record())

    def type_moments(self) -> np.ndarray:
        """Per type, the mean of its creators' current loadings to the powers 0, 1, 2 (from the
        per-style counts), from which the model reports each type's marginal value."""
        return np.array([[rule.counts @ rule.betas**r / rule.size for rule in self.rules] for r in range(3)])

    def _sum_round(self) -> None:
        """The round's per-type sums (``population.totals()``). With the compiled loops they are
        added in creator order, by the decisions' pass over the arrays or (agent by agent) by
        :func:`~abm.simulation.dynamic_market.kernels.creator_sums` over what the agents wrote:
        the same additions, so both paths get the same bits."""
        population = self.population
        if all(rule.sums is not None for rule in self.rules):
            population._totals = population._totals_from_sums(np.array([rule.sums for rule in self.rules]))
        else:
            population.totals()

    def _record(self) -> dict:
        row = {"round": self.model.round}
        for rule in self.rules:
            shares = rule.shares()
            for j, name in enumerate(rule.names):
                label = f"{TYPE_NAMES[rule.k]}_{name}"
                row[f"share_{label}"] = float(shares[j])
                row[f"stock_{label}"] = float(self.style_stocks[rule.k][j])
        return row


def style_history(model):
    """Shares and per-style stocks of a model run with ``chosen_originality``, one row per round
    at the start of that round (the columns of :func:`abm.theory.originality.originality_rounds`)."""
    import pandas as pd

    behaviour = model.behaviour
    if not isinstance(behaviour, StyleBehaviours):
        raise ValueError("style_history needs a model in which some type follows chosen_originality")
    first = {"round": 0}
    for rule in behaviour.rules:
        shares = np.bincount(initial_styles(rule.size, rule.betas.size), minlength=rule.betas.size) / rule.size
        for j, name in enumerate(rule.names):
            first[f"share_{TYPE_NAMES[rule.k]}_{name}"] = float(shares[j])
            first[f"stock_{TYPE_NAMES[rule.k]}_{name}"] = 0.0
    rows = [first] + [{**row, "round": row["round"] + 1} for row in behaviour.history[:-1]]
    return pd.DataFrame(rows)


BEHAVIOURS[ChosenOriginality.name] = ChosenOriginality
