"""The data plane's quota counters: what it may admit from its leases. Pure; time comes in.

A counter is (rule, member, window start) (protocol 1). It holds `used` (what this
node counted in the window) and `held` (its ceiling: the lease, protocol 8, or a
provisional ceiling before the first lease, protocol 9 and 11). `acquire` admits a
request against every applying rule at once or against none; the Reservation it
returns remembers each (counter, amount), so `settle` moves tokens and spend to
their actual figures in the window they were reserved in and frees concurrency.
`report` builds the lease stream's reports (protocol 2-4); `apply` takes its leases.

The hot path is `acquire`: per rule a cached window and, for shared rules, a cached
counter, so a request that counts against a few rules costs a few attribute reads
and integer adds. Everything that can be worked out per rule is worked out once, in
its RulePlan, when the rule is first seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from oggy.contract.compile.quota import Metric, Mode, Per, QuotaRule
from oggy.contract.leases import DEFAULT_LEASE_TTL_S
from oggy.contract.windows import Window, reset_text
from oggy.v1 import quota_service_pb2

# Protocol 2: report early when the free quota would not last until the next regular
# report. Free quota is compared with the last ~1-2 s of demand (two report intervals
# and more), not with a share of held: for a monthly budget or a minute-long window,
# held is mostly what was already used, and a share of it would keep reports going
# out as fast as they may.
# Protocol 3: demand is projected at most this far ahead.
DEMAND_HORIZON_S = 10.0
# Demand is measured over the last ~2 s, in 1 s buckets.
DEMAND_SPAN_S = 2.0
# Protocol 2: the next window is reported when less than max(1 s, 20 % of it) is left.
NEXT_WINDOW_MIN_S = 1.0
NEXT_WINDOW_SHARE = 0.2

Ask = tuple[QuotaRule, str, int]  # (rule, member, cost)
_HEADER_SUFFIXES = {Metric.REQUESTS: "requests", Metric.TOKENS: "tokens"}


class RulePlan:
    """What `acquire` needs of one rule, worked out once; also its per-rule totals."""

    __slots__ = (
        "_counter",
        "_window",
        "admitted",
        "capacity",
        "enforces",
        "headers",
        "is_budget",
        "limited",
        "metric",
        "name",
        "rule",
        "shadow",
        "shadowed",
        "shared",
    )

    def __init__(self, rule: QuotaRule) -> None:
        self.rule = rule
        self.name = rule.name
        self.metric = rule.metric
        self.capacity = rule.capacity
        self.enforces = rule.mode is Mode.ENFORCE
        self.shadow = rule.mode is Mode.SHADOW
        self.is_budget = rule.metric is Metric.SPEND
        self.shared = rule.per is Per.SCOPE
        # OpenAI's header names for enforcing request and token limits; None otherwise.
        self.headers: tuple[str, str, str] | None = None
        suffix = _HEADER_SUFFIXES.get(rule.metric)
        if suffix is not None and self.enforces:
            self.headers = tuple(  # type: ignore[assignment]
                f"x-ratelimit-{what}-{suffix}" for what in ("limit", "remaining", "reset")
            )
        self.admitted = 0  # requests admitted while counting against it
        self.limited = 0  # requests it refused
        self.shadowed = 0  # requests it would have refused (shadow mode)
        self._window = Window(1, 0)  # empty: recomputed on first use
        self._counter: Counter | None = None  # the shared counter of `_window`

    def window(self, now: float) -> Window:
        """The rule's window at `now`, recomputed only when it ends (calendar windows
        cost a datetime each)."""
        w = self._window
        if w.start <= now and (w.reset is None or now < w.reset):
            return w
        w = self._window = self.rule.window(now)
        return w

    def carry_totals(self, old: RulePlan) -> None:
        self.admitted, self.limited, self.shadowed = old.admitted, old.limited, old.shadowed


class Counter:
    """One (rule, member, window) on this node."""

    __slots__ = (
        "_peak",
        "_peak_prev",
        "_prev",
        "_reset_sec",
        "_reset_text",
        "_sec",
        "_sum",
        "acknowledged",
        "everywhere",
        "everywhere_base",
        "held",
        "leased",
        "member",
        "pending",
        "plan",
        "refused",
        "reported_used",
        "reset",
        "start",
        "used",
    )

    def __init__(self, plan: RulePlan, member: str, window: Window) -> None:
        self.plan = plan
        self.member = member
        self.start = window.start
        self.reset = window.reset
        self.used = 0
        # Reserved by requests still open (tokens, spend): settles to less, usually.
        self.pending = 0
        self.held = 0
        self.leased = False  # a lease for this window was applied
        self.everywhere = 0  # used_everywhere of the last lease
        self.everywhere_base = 0  # our `used` in the report that lease answered
        self.reported_used = 0
        self.acknowledged = 0  # budgets: settled spend whose usage events are acknowledged
        self.refused = 0  # concurrency: refusals since the last report
        # Demand: cost (admitted and refused) in 1 s buckets; concurrency: peak in flight.
        self._sec = 0
        self._sum = 0
        self._prev = 0
        self._peak = 0
        self._peak_prev = 0
        self._reset_sec = -1
        self._reset_text = ""

    def reset_text(self, now: float) -> str:
        """`x-ratelimit-reset-*` for this window, worked out once a second."""
        sec = int(now)
        if sec != self._reset_sec:
            self._reset_sec = sec
            self._reset_text = reset_text(0.0 if self.reset is None else max(0.0, self.reset - now))
        return self._reset_text

    def _age(self, now: float) -> None:
        sec = int(now)
        if sec != self._sec:
            adjacent = sec == self._sec + 1
            self._prev = self._sum if adjacent else 0
            self._peak_prev = self._peak if adjacent else 0
            self._sum = 0
            self._peak = self.used
            self._sec = sec

    def demand(self, cost: int, now: float) -> None:
        self._age(now)
        self._sum += cost
        if self.used > self._peak:
            self._peak = self.used

    def demand_rate(self, now: float) -> float:
        """Cost per second over the last ~2 s (admitted and refused)."""
        self._age(now)
        return (self._prev + self._sum) / DEMAND_SPAN_S

    def wants(self, now: float, current: Counter | None = None) -> int:
        """Protocol 3. `current`: for a next-window counter, the counter of the window
        now running, whose demand it projects over its own length."""
        if self.plan.metric is Metric.CONCURRENT:
            self._age(now)
            return max(self.used, max(self._peak, self._peak_prev) + self.refused)
        if current is not None:
            length = (self.reset or self.start) - self.start
            return self.used + math.ceil(current.demand_rate(now) * min(length, DEMAND_HORIZON_S))
        left = DEMAND_HORIZON_S if self.reset is None else max(0.0, self.reset - now)
        return self.used + math.ceil(self.demand_rate(now) * min(left, DEMAND_HORIZON_S))

    def remaining(self) -> int:
        """Capacity left everywhere as last known, adjusted by local use since (headers)."""
        seen = self.everywhere + self.used - self.everywhere_base
        return max(0, self.plan.capacity - seen)


class Reservation:
    """What `acquire` decided. When `blocked` is None, `parts` were counted and must be
    settled (or released) exactly once."""

    __slots__ = ("blocked", "open", "parts", "shadow")

    def __init__(
        self,
        parts: tuple[tuple[Counter, int], ...],
        blocked: Counter | None,
        shadow: Counter | None,
    ) -> None:
        self.parts = parts
        self.blocked = blocked  # the first enforcing counter with no room
        self.shadow = shadow  # the first shadow counter that would have refused
        self.open = blocked is None


class QuotaTable:
    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        # Called (at most once between two reports) when an early report is due.
        self.notify = notify
        self._plans: dict[QuotaRule, RulePlan] = {}  # by identity (QuotaRule eq=False)
        self._by_name: dict[str, RulePlan] = {}
        self._counters: dict[tuple[str, str, int], Counter] = {}
        # Acknowledgement of budget spend, by usage event id (protocol 3 `acknowledged`).
        self._unacked: dict[str, list[tuple[Counter, int]]] = {}
        self.ever_leased = False  # any lease response received (protocol 9)
        self.data_plane_count = 1
        self.lease_deadline = -math.inf  # no lease response since: fallback (protocol 9)
        self.last_lease_at: float | None = None
        self._pressure = False
        # Called after every lease response is applied and every settlement (requests
        # waiting for room wake and look again).
        self.on_room: Callable[[], None] | None = None

    # -- rules -----------------------------------------------------------------

    def plan(self, rule: QuotaRule) -> RulePlan:
        found = self._plans.get(rule)
        if found is None:
            found = self._plans[rule] = RulePlan(rule)
            old = self._by_name.get(rule.name)
            if old is not None:
                found.carry_totals(old)
            self._by_name[rule.name] = found
        return found

    def sync(self, rules: Iterable[QuotaRule]) -> None:
        """Keep plans for exactly `rules` (the config being served); forget the others'
        counters."""
        plans = {rule: self.plan(rule) for rule in rules}
        self._plans = plans
        self._by_name = {p.name: p for p in plans.values()}
        for key, c in list(self._counters.items()):
            plan = self._by_name.get(key[0])
            if plan is None:
                del self._counters[key]
            else:
                c.plan = plan  # a changed capacity counts from now on

    def plans(self) -> Iterable[RulePlan]:
        return self._by_name.values()

    # -- admission -------------------------------------------------------------

    def fallback_active(self, now: float) -> bool:
        return self.ever_leased and now >= self.lease_deadline

    def _provisional(self, plan: RulePlan, now: float) -> int:
        """The ceiling of a counter with no lease for its window (protocol 9 and 11)."""
        if not self.ever_leased:
            return 0 if plan.shared else plan.capacity
        share = plan.capacity // self.data_plane_count
        if now >= self.lease_deadline or not plan.shared:
            return share
        return 0  # connected: its lease is a round trip away (the refusal reports early)

    def _counter(self, plan: RulePlan, member: str, now: float) -> Counter:
        window = plan.window(now)
        if plan.shared:
            c = plan._counter
            if c is not None and c.start == window.start:
                return c
        key = (plan.name, member, window.start)
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = Counter(plan, member, window)
        if plan.shared:
            plan._counter = c
        return c

    def acquire(self, asks: Sequence[Ask], now: float) -> Reservation:
        """Count `asks` against every rule, or against none when an enforcing one has no room."""
        parts = []
        blocked: Counter | None = None
        shadow: Counter | None = None
        for rule, member, cost in asks:
            plan = self._plans.get(rule) or self.plan(rule)
            c = self._counter(plan, member, now)
            if not c.leased:
                c.held = max(c.used, self._provisional(plan, now))
            # A request that reserves nothing (a pass-through whose cost is settled
            # afterwards) still needs room for one unit: a spent budget refuses it too.
            if c.used + (cost or 1) > c.held:
                if plan.enforces:
                    c.demand(cost, now)
                    c.refused += 1
                    plan.limited += 1
                    if blocked is None:
                        blocked = c
                elif plan.shadow:
                    plan.shadowed += 1
                    if shadow is None:
                        shadow = c
            parts.append((c, cost))
        if blocked is not None:
            self._press()
            return Reservation(tuple(parts), blocked, shadow)
        for c, cost in parts:
            c.used += cost
            c.pending += cost
            c.demand(cost, now)
            c.plan.admitted += 1
            if not self._pressure and c.held - c.used < c._prev + c._sum:
                self._press()
        return Reservation(tuple(parts), None, shadow)

    def settle(
        self, res: Reservation, tokens: int | None, spend: int | None, event_id: str = ""
    ) -> None:
        """Tokens and spend move to their actual figures (None: keep the reservation),
        in the window they were reserved in; concurrency is freed. Once per reservation."""
        if not res.open:
            return
        res.open = False
        for c, amount in res.parts:
            c.pending -= amount
            metric = c.plan.metric
            if metric is Metric.CONCURRENT:
                c.used -= amount
            elif metric is Metric.TOKENS:
                if tokens is not None:
                    c.used += tokens - amount
            elif metric is Metric.SPEND:
                actual = amount if spend is None else spend
                c.used += actual - amount
                if event_id and actual:
                    self._unacked.setdefault(event_id, []).append((c, actual))
        if self.on_room is not None:
            self.on_room()  # what settled below its reservation may admit a waiter

    def release(self, res: Reservation) -> None:
        """Settle with no actual figures (the event could not be built): keep what was
        reserved, free concurrency."""
        self.settle(res, None, None)

    def acknowledged(self, event_ids: Iterable[str]) -> None:
        """The usage stream acknowledged these events: their spend is in the store."""
        unacked = self._unacked
        if not unacked:
            return
        for event_id in event_ids:
            for c, amount in unacked.pop(event_id, ()):
                c.acknowledged += amount

    def _press(self) -> None:
        if not self._pressure:
            self._pressure = True
            if self.notify is not None:
                self.notify()

    # -- the lease stream ------------------------------------------------------

    def report(self, now: float) -> list[quota_service_pb2.QuotaReport]:
        """Protocol 2-4: what to report now (after releasing unneeded quota)."""
        self._pressure = False
        out: list[quota_service_pb2.QuotaReport] = []
        counters = self._counters
        for plan in self._by_name.values():
            if not plan.shared:
                continue
            window = plan.window(now)
            self._counter(plan, "", now)
            reset = window.reset
            if plan.rule.window_s and reset is not None:
                lead = max(NEXT_WINDOW_MIN_S, NEXT_WINDOW_SHARE * plan.rule.window_s)
                if reset - now < lead:
                    key = (plan.name, "", reset)
                    if key not in counters:
                        counters[key] = Counter(plan, "", plan.rule.window(reset))
        for key, c in list(counters.items()):
            plan = c.plan
            current = plan.window(now).start
            if c.start < current:
                del counters[key]  # its window is over; open reservations keep the object
                continue
            ahead = counters.get((c.plan.name, c.member, current)) if c.start > current else None
            wants = c.wants(now, ahead)
            if c.leased and c.held > wants:
                c.held = max(c.used, wants)  # protocol 4
            elif not c.leased:
                c.held = max(c.used, self._provisional(plan, now))
            out.append(self._report_of(c, wants))
            c.reported_used = c.used
            c.refused = 0
            if not plan.shared and c.used == 0 and c.held == 0:
                del counters[key]  # an idle member: reported released once, then forgotten
        return out

    @staticmethod
    def _report_of(c: Counter, wants: int) -> quota_service_pb2.QuotaReport:
        return quota_service_pb2.QuotaReport(
            counter=quota_service_pb2.QuotaCounter(
                rule=c.plan.name, member=c.member, window_start=c.start
            ),
            used=c.used,
            held=c.held,
            wants=max(wants, c.used),
            acknowledged=c.acknowledged if c.plan.is_budget else 0,
        )

    def apply(
        self,
        leases: Iterable[quota_service_pb2.QuotaLease],
        data_plane_count: int,
        now: float,
        ttl_s: float = DEFAULT_LEASE_TTL_S,
    ) -> None:
        """One lease response (protocol 7-8): held = max(used, granted) per counter."""
        self.ever_leased = True
        self.data_plane_count = max(1, data_plane_count)
        self.lease_deadline = now + ttl_s
        self.last_lease_at = now
        for lease in leases:
            counter = lease.counter
            plan = self._by_name.get(counter.rule)
            if plan is None:
                continue  # a rule this node does not serve (config not here yet)
            start = counter.window_start
            if start < plan.window(now).start:
                continue  # for a window already over
            key = (plan.name, counter.member, start)
            c = self._counters.get(key)
            if c is None:
                window = plan.rule.window(start) if start else plan.window(now)
                c = self._counters[key] = Counter(plan, counter.member, window)
            c.held = max(c.used, lease.granted)
            c.leased = True
            c.everywhere = lease.used_everywhere
            c.everywhere_base = c.reported_used
        if self.on_room is not None:
            self.on_room()

    def worth_waiting(self, res: Reservation, now: float) -> bool:
        """A refusal the next lease may lift: this node is short, not the fleet.

        True while leases flow (or before the first one) and the blocking counter's
        capacity, as last known everywhere, still has room for the request: its quota
        sits unused elsewhere or was released, and the early report this refusal sent
        asks for it back. Without this an idle node (holding nothing after releasing
        it) would refuse the first request after every quiet spell, and a budget
        refusal (402) is final for the caller.
        """
        blocked = res.blocked
        if blocked is None:
            return False
        need = next((amount for c, amount in res.parts if c is blocked), 0) or 1
        # Requests in flight here reserved their most; what they settle below it frees
        # room on this node, leases or not (a node cut off spends what it holds).
        settles_down = blocked.plan.metric is not Metric.REQUESTS
        if (
            settles_down
            and blocked.pending
            and blocked.held - blocked.used + blocked.pending >= need
        ):
            return True
        return not self.fallback_active(now) and blocked.remaining() >= need

    # -- metrics -----------------------------------------------------------------

    def current(self, now: float) -> list[Counter]:
        """The counters of each rule's current window (for gauges)."""
        return [c for c in self._counters.values() if c.start == c.plan.window(now).start]
