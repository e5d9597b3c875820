"""UsageService over grpc.aio: acknowledge each batch only after the store committed it.

Batches are handled one at a time per stream, so acknowledgements come back in
order. A batch the store cannot take, or a malformed one, is answered with
`stored = false` and the stream stays open for the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import grpc

from controlplane.usage.base import UsageStore
from controlplane.usage.errors import UsageStoreUnavailable
from oggy.v1 import usage_service_pb2, usage_service_pb2_grpc

log = logging.getLogger(__name__)

MAX_EVENT_ID_LEN = 128
MAX_BATCH_EVENTS = 10_000
STORE_FAILED_DETAIL = "usage store unavailable; resend the batch later"


def validate_batch(request: usage_service_pb2.ReportUsageRequest) -> str | None:
    """Why the batch is unacceptable, or None. Pure."""
    if len(request.events) > MAX_BATCH_EVENTS:
        return f"batch has {len(request.events)} events; the limit is {MAX_BATCH_EVENTS}"
    for i, event in enumerate(request.events):
        if not event.event_id:
            return f"events[{i}].event_id is empty"
        if len(event.event_id) > MAX_EVENT_ID_LEN:
            return f"events[{i}].event_id is longer than {MAX_EVENT_ID_LEN} characters"
    return None


class UsageReports(Protocol):
    """Who wants to know how far behind each data plane's usage is (the node registry)."""

    def usage_reported(self, node_id: str, backlog: int) -> None: ...


class UsageIngestServicer(usage_service_pb2_grpc.UsageServiceServicer):
    def __init__(self, store: UsageStore, reports: UsageReports | None = None) -> None:
        self._store = store
        self._reports = reports
        self._draining = asyncio.Event()

    def drain(self) -> None:
        """End every stream at its next batch boundary (shutdown).

        A stream idles between batches forever, so without this a graceful
        server stop would always wait out its whole grace. Nothing is lost:
        a batch is either acknowledged or resent by the data plane.
        """
        self._draining.set()

    async def ReportUsage(
        self,
        request_iterator: AsyncIterator[usage_service_pb2.ReportUsageRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[usage_service_pb2.ReportUsageResponse]:
        requests = aiter(request_iterator)
        draining = asyncio.ensure_future(self._draining.wait())
        next_request: asyncio.Future[usage_service_pb2.ReportUsageRequest] | None = None
        try:
            while True:
                next_request = asyncio.ensure_future(anext(requests))
                await asyncio.wait({next_request, draining}, return_when=asyncio.FIRST_COMPLETED)
                if not next_request.done():
                    next_request.cancel()
                    return
                try:
                    request = next_request.result()
                except StopAsyncIteration:
                    return
                yield await self._handle(request)
        finally:
            draining.cancel()
            if next_request is not None:
                # The RPC may be torn down while a read is pending or just finished:
                # settle it so its outcome (e.g. StopAsyncIteration) is never orphaned.
                if next_request.done():
                    if not next_request.cancelled():
                        next_request.exception()
                else:
                    next_request.cancel()

    async def _handle(
        self, request: usage_service_pb2.ReportUsageRequest
    ) -> usage_service_pb2.ReportUsageResponse:
        if self._reports is not None:
            self._reports.usage_reported(request.dataplane_id, request.backlog_events)
        problem = validate_batch(request)
        if problem is not None:
            log.warning(
                "rejected usage batch %s from %s: %s",
                request.batch_id,
                request.dataplane_id,
                problem,
            )
            return usage_service_pb2.ReportUsageResponse(
                batch_id=request.batch_id, stored=False, error_detail=problem
            )
        try:
            inserted, duplicates = await self._store.insert(request.events)
        except UsageStoreUnavailable as exc:
            # Expected during an outage; the data plane resends. One line, no traceback.
            log.warning(
                "usage store unavailable, batch %s (%d events) from %s not stored: %s",
                request.batch_id,
                len(request.events),
                request.dataplane_id,
                exc,
            )
            return usage_service_pb2.ReportUsageResponse(
                batch_id=request.batch_id, stored=False, error_detail=STORE_FAILED_DETAIL
            )
        except Exception:
            log.exception(
                "usage store failed on batch %s (%d events) from %s",
                request.batch_id,
                len(request.events),
                request.dataplane_id,
            )
            return usage_service_pb2.ReportUsageResponse(
                batch_id=request.batch_id, stored=False, error_detail=STORE_FAILED_DETAIL
            )
        log.debug(
            "stored usage batch %s from %s: %d new, %d duplicates",
            request.batch_id,
            request.dataplane_id,
            inserted,
            duplicates,
        )
        return usage_service_pb2.ReportUsageResponse(
            batch_id=request.batch_id, stored=True, inserted=inserted, duplicates=duplicates
        )
