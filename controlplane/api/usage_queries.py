"""The usage side of AdminService: events, summaries, unpriced models, prompt logs.

`UsageQueries` implements these RPCs with the AdminService method signatures;
AdminServicer delegates to it (one line per RPC) so the CRUD servicer stays
about configuration. Errors are typed and mapped by `grpc_errors`; a missing
or failing usage store is UNAVAILABLE.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from controlplane.api.status import grpc_errors
from controlplane.domain.errors import InvalidArgument, Unavailable
from controlplane.usage.base import UsageStore
from controlplane.usage.retention import RetentionJob
from controlplane.usage.rows import timestamp_to_us, us_to_timestamp
from oggy.contract.names import parse_workspace_name
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1.usage_pb2 import UsageGroupBy

Ctx = grpc.aio.ServicerContext
# A usage store's paged list method: (filter, page_size, page_token) → (items, next token).
PageLister = Callable[[pb.UsageFilter, int, str], Awaitable[tuple[Sequence[Any], str]]]


def _check_filter(flt: pb.UsageFilter) -> None:
    parse_workspace_name(flt.workspace, "filter.workspace")
    if (
        flt.HasField("start_time")
        and flt.HasField("end_time")
        and timestamp_to_us(flt.end_time) < timestamp_to_us(flt.start_time)
    ):
        raise InvalidArgument("filter.end_time is before filter.start_time")


def _paged_rpc(rpc: str, lister: str, field: str) -> Callable[..., Any]:
    """A List RPC answered by the usage store's method `lister`; its page goes in `field`."""
    response = getattr(pb, f"{rpc}Response")

    async def page(self: UsageQueries, request: Any, context: Ctx) -> Any:
        _check_filter(request.filter)
        list_page: PageLister = getattr(self._usage(), lister)
        items, token = await list_page(request.filter, request.page_size, request.page_token)
        return response(**{field: items}, next_page_token=token)

    page.__name__ = page.__qualname__ = rpc
    return grpc_errors(page)


class UsageQueries:
    def __init__(
        self,
        usage_store: UsageStore | None,
        *,
        retention: RetentionJob | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = usage_store
        self._retention = retention
        self._clock = clock

    def __repr__(self) -> str:
        return f"UsageQueries({self._store!r})"

    def _usage(self) -> UsageStore:
        if self._store is None:
            raise Unavailable("no usage store is configured")
        return self._store

    # The paged List RPCs: `request`'s filter is checked first (INVALID_ARGUMENT before
    # UNAVAILABLE), then the usage store lists one page with it.
    ListUsageEvents = _paged_rpc("ListUsageEvents", "list_events", "usage_events")
    ListPromptLogs = _paged_rpc("ListPromptLogs", "list_prompt_logs", "prompt_logs")

    @grpc_errors
    async def SummarizeUsage(self, request: pb.SummarizeUsageRequest, context: Ctx):
        _check_filter(request.filter)
        group_by = list(request.group_by)
        if UsageGroupBy.USAGE_GROUP_BY_UNSPECIFIED in group_by:
            raise InvalidArgument("group_by must not contain USAGE_GROUP_BY_UNSPECIFIED")
        rows = await self._usage().summarize(request.filter, group_by)
        return pb.SummarizeUsageResponse(rows=rows)

    @grpc_errors
    async def ListUnpricedModels(self, request: pb.ListUnpricedModelsRequest, context: Ctx):
        _check_filter(request.filter)
        models = await self._usage().list_unpriced_models(request.filter)
        return pb.ListUnpricedModelsResponse(models=models)

    @grpc_errors
    async def PurgePromptLogs(self, request: pb.PurgePromptLogsRequest, context: Ctx):
        now = self._clock()
        if self._retention is not None:
            purged = await self._retention.run_once()
        else:
            purged = await self._usage().purge_expired(int(now * 1_000_000))
        return pb.PurgePromptLogsResponse(
            purged=purged, purge_time=us_to_timestamp(int(now * 1_000_000))
        )

    async def key_activity(self, key_names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Key name → (last used unix µs, request count); {} without a usage store.

        For the admin API's key display; a failing store raises UsageStoreUnavailable
        (a domain Unavailable) so callers may choose to show keys without activity.
        """
        if self._store is None or not key_names:
            return {}
        return await self._store.key_activity(key_names)
