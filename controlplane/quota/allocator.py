"""Quota allocation across data planes (proto/oggy/v1/quota_protocol.md 6, 7, 10, 13). Pure.

The allocator keeps, per data plane and counter, what the node last reported and
the grants sent to it that it may not have applied yet; from that it computes the
node's lease when the node reports. The clock comes in as `now` arguments, the
budgets' spend as a `SpendRead` the caller made: nothing here does I/O, so the
arithmetic is tested without sleeping (tests/unit/controlplane/quota).

Invariants (each checked by a test):
- sum(granted) + base never exceeds capacity through a grant: a grant adds at most
  the free quota (capacity - base - every node's committed amount), shared by
  water-filling in proportion to wants;
- a node's grant goes down only to its fair share (in proportion to wants) and
  never below what it reported used; until the node reports having applied a lower
  grant, what it held before stays counted;
- a node silent for longer than lease_ttl is counted at max(committed,
  floor(capacity / N)) in windows that start after its silence began (it may be
  serving on its fallback share), and forgotten after node_expiry;
- for its first lease_ttl a new allocator confirms committed amounts only: the
  previous allocator's grants in flight are not known until nodes report them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from oggy.contract.compile.quota import QuotaRule
from oggy.contract.leases import DEFAULT_LEASE_TTL_S

DEFAULT_NODE_EXPIRY_S = 60.0
# A new allocator only confirms what nodes hold for this many lease TTLs (item 13).
HANDOVER_LEASE_TTLS = 2
# How long a node's acknowledged figures are kept, to pair with a spend read that
# started before the newest report (reads are refreshed about every second).
_ACK_HISTORY_S = 30.0


@dataclass(frozen=True, slots=True)
class Counter:
    rule: str
    member: str
    window_start: int


@dataclass(frozen=True, slots=True)
class Report:
    counter: Counter
    used: int
    held: int
    wants: int
    acknowledged: int = 0


@dataclass(frozen=True, slots=True)
class Lease:
    counter: Counter
    granted: int
    expire_time: float
    used_everywhere: int


@dataclass(frozen=True, slots=True)
class SpendRead:
    """A budget's spend per member for one period, read from the usage store.

    `started_at` is when the read began: only reports received before it may be
    combined with it (their acknowledged spend is in the read; later ones may not be).
    """

    window_start: int
    started_at: float
    by_member: Mapping[str, int]

    def spend(self, member: str) -> int:
        return self.by_member.get(member, 0)


@dataclass(slots=True)
class _NodeCounter:
    used: int = 0
    held: int = 0
    wants: int = 0
    # (received at, acknowledged), oldest first.
    acks: deque[tuple[float, int]] = field(default_factory=deque)
    # (response sequence, granted), in sequence order.
    sent: list[tuple[int, int]] = field(default_factory=list)

    def committed(self, applied_sequence: int) -> int:
        in_flight = [g for seq, g in self.sent if seq > applied_sequence]
        return max([self.held, *in_flight])

    def acknowledged_before(self, t: float) -> int:
        """The acknowledged spend of the newest report received before `t` (0: none)."""
        found = 0
        for at, ack in self.acks:
            if at >= t:
                break
            found = ack
        return found

    def note_ack(self, now: float, ack: int) -> None:
        self.acks.append((now, ack))
        # Keep one entry older than the horizon: a read started then still pairs with it.
        while len(self.acks) > 1 and self.acks[1][0] < now - _ACK_HISTORY_S:
            self.acks.popleft()


@dataclass(slots=True)
class _Node:
    last_report: float
    applied_sequence: int = 0
    counters: dict[Counter, _NodeCounter] = field(default_factory=dict)


class Allocator:
    def __init__(
        self,
        started_at: float,
        *,
        lease_ttl: float = DEFAULT_LEASE_TTL_S,
        node_expiry: float = DEFAULT_NODE_EXPIRY_S,
    ) -> None:
        self._started_at = started_at
        self._lease_ttl = lease_ttl
        self._node_expiry = node_expiry
        self._nodes: dict[str, _Node] = {}

    # -- input ------------------------------------------------------------------

    def report(
        self,
        node: str,
        now: float,
        applied_sequence: int,
        reports: Iterable[Report],
        windows: Mapping[str, int] | None = None,
    ) -> None:
        """Record a node's report. `windows`: rule name → current window start, so
        counters of windows that ended are dropped (None: keep all)."""
        state = self._nodes.setdefault(node, _Node(now))
        state.last_report = now
        state.applied_sequence = max(state.applied_sequence, applied_sequence)
        for r in reports:
            counter = state.counters.setdefault(r.counter, _NodeCounter())
            counter.used, counter.held, counter.wants = r.used, max(r.held, 0), max(r.wants, 0)
            counter.note_ack(now, r.acknowledged)
            # Grants the node has applied are in its `held` now.
            counter.sent = [(s, g) for s, g in counter.sent if s > state.applied_sequence]
        if windows is not None:
            self._drop_old_windows(state, windows)

    def forget(self, node: str) -> None:
        self._nodes.pop(node, None)

    def expire(self, now: float) -> None:
        """Forget nodes silent for longer than node_expiry."""
        for node in [n for n, s in self._nodes.items() if now - s.last_report > self._node_expiry]:
            del self._nodes[node]

    # -- output -----------------------------------------------------------------

    def data_plane_count(self, now: float) -> int:
        self.expire(now)
        return len(self._nodes)

    def handing_over(self, now: float) -> bool:
        # Long enough for most nodes to find the new allocator: a node's stream to the old
        # one breaks, it may be sent to the dead one once more and back off (seconds)
        # before it reports here, meanwhile serving a fallback share this allocator does
        # not know of (one lease TTL let a window run to 80 of 60 in a test). Not longer:
        # at a cold start nobody holds anything, and a budget refuses until allocation
        # begins. A node slower than this can still push one window over its limit.
        return now < self._started_at + HANDOVER_LEASE_TTLS * self._lease_ttl

    def allocate(
        self,
        node: str,
        now: float,
        sequence: int,
        rules: Mapping[str, QuotaRule],
        spend: Mapping[tuple[str, int], SpendRead] | None = None,
    ) -> list[Lease]:
        """Leases for every counter `node` reported (whose rule still exists), to be
        sent in the response numbered `sequence`. `spend`: (budget name, window start)
        → its latest spend read."""
        self.expire(now)
        state = self._nodes.get(node)
        if state is None:
            return []
        n = max(1, len(self._nodes))
        leases: list[Lease] = []
        for counter, mine in state.counters.items():
            rule = rules.get(counter.rule)
            if rule is None:
                continue
            read = None
            if rule.is_budget:
                read = (spend or {}).get((counter.rule, counter.window_start))
            granted, used_everywhere = self._grant(node, counter, rule, now, n, read)
            mine.sent.append((sequence, granted))
            leases.append(Lease(counter, granted, now + self._lease_ttl, used_everywhere))
        return leases

    def reserved(self, counter: Counter) -> int:
        """Budget headroom held by data planes beyond their acknowledged spend."""
        total = 0
        for state in self._nodes.values():
            c = state.counters.get(counter)
            if c is not None:
                acked = c.acks[-1][1] if c.acks else 0
                total += max(0, c.committed(state.applied_sequence) - acked)
        return total

    def counters(self) -> set[Counter]:
        return {c for s in self._nodes.values() for c in s.counters}

    # -- arithmetic -------------------------------------------------------------

    def _grant(
        self,
        node: str,
        counter: Counter,
        rule: QuotaRule,
        now: float,
        n: int,
        read: SpendRead | None,
    ) -> tuple[int, int]:
        """(granted to `node`, used everywhere) for one counter."""
        committed: dict[str, int] = {}
        wants: dict[str, int] = {}
        used_by: dict[str, int] = {}
        used = 0
        acknowledged = 0
        read_at = read.started_at if read is not None else 0.0
        unreported: list[str] = []
        for name, state in self._nodes.items():
            c = state.counters.get(counter)
            amount = c.committed(state.applied_sequence) if c is not None else 0
            silent = self._silent(state, now)
            if silent and counter.window_start > state.last_report:
                # Partitioned, perhaps, and admitting on its fallback share.
                amount = max(amount, rule.capacity // n)
            committed[name] = amount
            if c is not None:
                wants[name] = c.wants if not silent else 0
                used_by[name] = c.used
                used += c.used
                acknowledged += c.acknowledged_before(read_at)
            elif not silent:
                unreported.append(name)
        base = 0
        if rule.is_budget:
            if read is None:
                # No spend known for this period yet: confirm what is held, nothing more.
                return committed[node], used
            base = max(0, read.spend(counter.member) - acknowledged)
        mine = committed[node]
        if self.handing_over(now):
            return mine, base + used
        # A live node that has not reported this counter yet (a window just began) is
        # likely to want about what the others want: keep it a share, or whoever
        # reports first in a window would take everything.
        if unreported and wants:
            typical = sum(wants.values()) // len(wants)
            wants.update(dict.fromkeys(unreported, typical))
        # Nodes without demand here (silent ones) keep what they are counted at.
        fixed = sum(amount for k, amount in committed.items() if k not in wants)
        # Fair holdings: in proportion to wants, never below what a node has used. A
        # node holding more than its fair share while others want more is lowered to
        # it (it applies max(used, granted)); the quota it gives back is counted as
        # held until it reports having applied the lower grant, so lowering is safe.
        # Without this, whoever asked first would keep a budget's headroom all period.
        fair = water_fill(
            rule.capacity - base - fixed,
            {k: (w, used_by.get(k, 0)) for k, w in wants.items()},
        )
        others = sum(amount for k, amount in committed.items() if k in wants and k != node)
        room = rule.capacity - base - fixed - others
        target = fair.get(node, mine)
        return max(used_by.get(node, 0), min(target, room)), base + used

    def _silent(self, state: _Node, now: float) -> bool:
        return now - state.last_report > self._lease_ttl

    @staticmethod
    def _drop_old_windows(state: _Node, windows: Mapping[str, int]) -> None:
        for counter in list(state.counters):
            current = windows.get(counter.rule)
            # Rate limits report the next window too: keep counters at or after the current.
            if current is None or counter.window_start < current:
                del state.counters[counter]


def water_fill(available: int, demand: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """Water levels for nodes by (wants, committed): each node's level is
    max(committed, min(wants, x * wants)) with the largest x in [0, 1] whose levels
    sum to at most `available` — holdings in proportion to wants as far as committed
    amounts allow, never above wants unless already committed. Floors: the sum never
    exceeds `available` (unless committed amounts alone do, then levels = committed)."""

    def levels(x: float) -> dict[str, float]:
        return {k: max(c, min(w, x * w)) for k, (w, c) in demand.items()}

    def total(x: float) -> int:
        return sum(int(v) for v in levels(x).values())

    if total(1.0) <= available:
        x = 1.0
    else:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if total(mid) <= available:
                lo = mid
            else:
                hi = mid
        x = lo
    return {k: int(v) for k, v in levels(x).items()}
