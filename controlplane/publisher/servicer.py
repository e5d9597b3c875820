"""ConfigDiscoveryService over grpc.aio: one stream per data plane.

The stream sends the current full snapshot, then deltas in revision order, and
concurrently reads the node's ACK/NACKs. Authentication is an interceptor's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import grpc

from controlplane.publisher.fanout import Subscription, SubscriptionClosed, Update
from controlplane.publisher.nodes import OutstandingNonces
from controlplane.publisher.publisher import ConfigPublisher
from oggy.v1 import config_service_pb2, config_service_pb2_grpc

log = logging.getLogger(__name__)

# NACK reasons and warnings come from the data plane; keep logs and the registry bounded.
_MAX_ERROR_LEN = 1024
_MAX_WARNINGS = 100


class ConfigDiscoveryServicer(config_service_pb2_grpc.ConfigDiscoveryServiceServicer):
    def __init__(self, publisher: ConfigPublisher) -> None:
        self._publisher = publisher

    async def StreamConfig(
        self,
        request_iterator: AsyncIterator[config_service_pb2.StreamConfigRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[config_service_pb2.StreamConfigResponse]:
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
            return
        node = first.node
        if not node.id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message needs node.id")
        stream = _NodeStream(self._publisher, node, context.peer())
        log.info(
            "data plane %s connected from %s (hostname=%s version=%s serving=%d)",
            node.id,
            context.peer(),
            node.hostname,
            node.version,
            first.serving_revision,
        )
        reader = asyncio.create_task(stream.read_answers(request_iterator))
        try:
            while True:
                try:
                    update = await stream.subscription.next()
                except SubscriptionClosed:
                    return
                yield stream.sent(update)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            stream.close()
            log.info("data plane %s disconnected", node.id)


class _NodeStream:
    """State of one node's stream: its subscription, nonces and registry entry."""

    def __init__(
        self, publisher: ConfigPublisher, node: config_service_pb2.Node, peer: str
    ) -> None:
        self._publisher = publisher
        self._registry = publisher.node_registry
        self._node_id = node.id
        self._outstanding = OutstandingNonces()
        self.subscription: Subscription = publisher.subscribe()
        self._registry.connect(self, node.id, node.hostname, node.version, peer)

    def sent(self, update: Update) -> config_service_pb2.StreamConfigResponse:
        nonce = secrets.token_hex(8)
        self._outstanding.add(nonce, update.revision)
        self._registry.sent(self, self._node_id, nonce, update.revision)
        if update.snapshot is not None:
            return config_service_pb2.StreamConfigResponse(nonce=nonce, snapshot=update.snapshot)
        return config_service_pb2.StreamConfigResponse(nonce=nonce, delta=update.delta)

    async def read_answers(
        self, requests: AsyncIterator[config_service_pb2.StreamConfigRequest]
    ) -> None:
        try:
            async for request in requests:
                self._answer(request)
        finally:
            # The data plane closed its side (or the call died): end our side too.
            self.subscription.close()

    def _answer(self, request: config_service_pb2.StreamConfigRequest) -> None:
        version = self._outstanding.pop(request.response_nonce)
        if version is None:
            log.debug("data plane %s answered an unknown nonce", self._node_id)
            return
        if not request.error_detail:
            warnings = tuple(w[:_MAX_ERROR_LEN] for w in request.compile_warnings[:_MAX_WARNINGS])
            self._registry.acked(self, self._node_id, version, warnings)
            return
        error = request.error_detail[:_MAX_ERROR_LEN]
        log.warning("data plane %s rejected revision %d: %s", self._node_id, version, error)
        self._registry.nacked(self, self._node_id, version, error)
        self.subscription.full_on_next_change()

    def close(self) -> None:
        self._publisher.unsubscribe(self.subscription)
        self._registry.disconnect(self, self._node_id)
