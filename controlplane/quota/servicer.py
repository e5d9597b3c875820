"""QuotaService.StreamLeases over grpc.aio (proto/oggy/v1/quota_protocol.md).

Each report is answered with one response: leases for the counters reported when this
process allocates, else `leader` = the allocator's address (or "" while none is
elected) and no leases. Responses are numbered per stream. Authentication (the node
token) is the interceptor's job, as for the config and usage streams.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.quota.allocator import Counter, Lease, Report
from controlplane.quota.leader import QuotaAllocation
from oggy.contract.leases import DEFAULT_REPORT_INTERVAL_S
from oggy.v1 import quota_service_pb2 as pb
from oggy.v1 import quota_service_pb2_grpc

log = logging.getLogger(__name__)


class QuotaServicer(quota_service_pb2_grpc.QuotaServiceServicer):
    def __init__(
        self, allocation: QuotaAllocation, *, report_interval: float = DEFAULT_REPORT_INTERVAL_S
    ) -> None:
        self._allocation = allocation
        self._interval = Duration()
        self._interval.FromNanoseconds(int(report_interval * 1e9))

    async def StreamLeases(
        self,
        request_iterator: AsyncIterator[pb.StreamLeasesRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.StreamLeasesResponse]:
        node = ""
        sequence = 0
        async for request in request_iterator:
            if not node:
                node = request.node.id
                if not node:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "the first message needs node.id"
                    )
                log.debug("data plane %s opened its lease stream", node)
            sequence += 1
            response = pb.StreamLeasesResponse(sequence=sequence, report_interval=self._interval)
            served = self._allocation.serve(
                node, request.applied_sequence, [_report(r) for r in request.reports], sequence
            )
            if served is None:
                response.leader = self._allocation.leader_address
            else:
                leases, count = served
                response.leases.extend(_lease(lease) for lease in leases)
                response.data_plane_count = count
            yield response


def _report(r: pb.QuotaReport) -> Report:
    c = r.counter
    return Report(
        Counter(c.rule, c.member, c.window_start), r.used, r.held, r.wants, r.acknowledged
    )


def _lease(lease: Lease) -> pb.QuotaLease:
    expire = Timestamp()
    expire.FromNanoseconds(int(lease.expire_time * 1e9))
    c = lease.counter
    return pb.QuotaLease(
        counter=pb.QuotaCounter(rule=c.rule, member=c.member, window_start=c.window_start),
        granted=lease.granted,
        expire_time=expire,
        used_everywhere=lease.used_everywhere,
    )
