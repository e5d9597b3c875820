"""Per-data-plane config state (what was sent, what was ACKed, why it NACKed).

Mutated only by the stream handling a node; read by the admin side through
`ConfigPublisher.nodes()` as immutable copies.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

# Outstanding nonces remembered per stream; a data plane ACKs each response, so
# only a handful are ever in flight. Bounded so a silent peer cannot grow it.
_MAX_OUTSTANDING = 64
# Disconnected nodes kept for the admin view; oldest forgotten first.
_MAX_DISCONNECTED = 1000


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: str
    hostname: str
    version: str
    peer: str
    connected: bool
    connected_at: float
    disconnected_at: float | None = None
    last_sent_version: int = 0
    last_sent_nonce: str = ""
    last_acked_version: int = 0
    last_acked_at: float | None = None
    last_nack_version: int = 0
    last_nack_error: str = ""
    last_nack_at: float | None = None
    nacks: int = 0
    # The data plane compiler's warnings on the version it last ACKed.
    warnings: tuple[str, ...] = ()
    # From its usage stream: events it held unacknowledged at its last report.
    usage_backlog: int = 0
    last_usage_at: float | None = None


class NodeRegistry:
    """Latest status per node id (a reconnect replaces the previous stream's entry)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._nodes: dict[str, NodeStatus] = {}
        self._streams: dict[str, object] = {}
        # Replaced on every change so waiters never miss one (see `wait_for`).
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[list[NodeStatus]], bool]) -> list[NodeStatus]:
        """Wait until `predicate(statuses)` holds (for tests and admin "wait for rollout")."""
        while True:
            changed = self._changed
            statuses = self.snapshot()
            if predicate(statuses):
                return statuses
            await changed.wait()

    def connect(self, stream: object, node_id: str, hostname: str, version: str, peer: str) -> None:
        self._streams[node_id] = stream
        previous = self._nodes.get(node_id)
        self._nodes[node_id] = NodeStatus(
            node_id=node_id,
            hostname=hostname,
            version=version,
            peer=peer,
            connected=True,
            connected_at=self._clock(),
            # The usage stream is another call: what it reported still holds.
            usage_backlog=previous.usage_backlog if previous else 0,
            last_usage_at=previous.last_usage_at if previous else None,
        )
        self._touch()

    def _owns(self, stream: object, node_id: str) -> bool:
        # An old stream of a node that already reconnected must not overwrite it.
        return self._streams.get(node_id) is stream

    def sent(self, stream: object, node_id: str, nonce: str, version: int) -> None:
        if self._owns(stream, node_id):
            self._nodes[node_id] = replace(
                self._nodes[node_id], last_sent_version=version, last_sent_nonce=nonce
            )
            self._touch()

    def acked(
        self, stream: object, node_id: str, version: int, warnings: tuple[str, ...] = ()
    ) -> None:
        if self._owns(stream, node_id):
            self._nodes[node_id] = replace(
                self._nodes[node_id],
                last_acked_version=version,
                last_acked_at=self._clock(),
                warnings=warnings,
            )
            self._touch()

    def nacked(self, stream: object, node_id: str, version: int, error: str) -> None:
        if self._owns(stream, node_id):
            status = self._nodes[node_id]
            self._nodes[node_id] = replace(
                status,
                last_nack_version=version,
                last_nack_error=error,
                last_nack_at=self._clock(),
                nacks=status.nacks + 1,
            )
            self._touch()

    def usage_reported(self, node_id: str, backlog: int) -> None:
        """A usage batch from `node_id` said it holds `backlog` more events. Only nodes
        known from their config stream are tracked (the table stays bounded)."""
        status = self._nodes.get(node_id)
        if status is not None:
            self._nodes[node_id] = replace(
                status, usage_backlog=max(backlog, 0), last_usage_at=self._clock()
            )
            self._touch()

    def disconnect(self, stream: object, node_id: str) -> None:
        if self._owns(stream, node_id):
            del self._streams[node_id]
            self._nodes[node_id] = replace(
                self._nodes[node_id], connected=False, disconnected_at=self._clock()
            )
            gone = [s for s in self._nodes.values() if not s.connected]
            if len(gone) > _MAX_DISCONNECTED:
                gone.sort(key=lambda s: s.disconnected_at or 0.0)
                for status in gone[: len(gone) - _MAX_DISCONNECTED]:
                    del self._nodes[status.node_id]
            self._touch()

    def snapshot(self) -> list[NodeStatus]:
        return [self._nodes[k] for k in sorted(self._nodes)]


class OutstandingNonces:
    """nonce → version of responses sent and not yet answered."""

    def __init__(self) -> None:
        self._by_nonce: OrderedDict[str, int] = OrderedDict()

    def add(self, nonce: str, version: int) -> None:
        self._by_nonce[nonce] = version
        while len(self._by_nonce) > _MAX_OUTSTANDING:
            self._by_nonce.popitem(last=False)

    def pop(self, nonce: str) -> int | None:
        return self._by_nonce.pop(nonce, None)
