"""Every API request's frame: one admission, one usage event, one metrics sample.

`metered` wraps each API endpoint: it opens the RequestRecord, takes the
admission step (the request's facts → `core.admission.admit`), journals an
admitted request bound upstream as in flight (inflight.py: a crash from then
on still leaves it an event), hands it to the endpoint's handler, maps a
GatewayError to its response (through the one mapper, in the endpoint's
protocol), and in `finally` settles and emits exactly one UsageEvent
(`core.settlement.settle`) — for successes, auth failures, policy blocks,
upstream errors and clients that went away alike.

A plain response goes out after the handler returns, and the handler awaits the
sink's "journaled" future first, so the event is journaled before the client has
its answer (other requests run while the journal writes). A streamed response is
written by the handler itself: it awaits `settle_now` just before ending the
stream, for the same ordering; `finally` then emits nothing more. A settlement
that tokenises or redacts runs in a thread, as a task that still emits if the
request is cancelled meanwhile (tasks left are drained at app cleanup).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from dataplane.config.holder import ConfigHolder
from dataplane.core.admission import (
    Admitted,
    Ask,
    Endpoint,
    Kind,
    Refused,
    Verdict,
    admit,
    find_key,
    refuse_stale,
)
from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.quota_check import check_quota, settle_quota
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import settle, settles_in_thread
from dataplane.core.trace import REQUEST_ID_HEADER, client_request_id
from dataplane.http.errors import error_response
from dataplane.http.inflight import InFlight
from dataplane.http.key_headers import presented_authorization
from dataplane.http.metrics import Metrics
from dataplane.http.upstream import Upstream
from dataplane.quota.signal import LEASE_WAIT_S, LeaseSignal
from dataplane.quota.table import QuotaTable
from dataplane.tokens import counter_for_model, loaded_counter
from dataplane.usage_sink import UsageSink
from oggy.contract import errors
from oggy.v1 import usage_pb2

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Inner = Callable[[web.Request, RequestRecord, Admitted], Awaitable[web.StreamResponse]]
# Starts settling the request's event; what it returns, unless None, is done once the
# event is journaled.
_START_SETTLE = web.RequestKey("oggy_start_settle", Callable[[], "Awaitable[None] | None"])  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Deps:
    holder: ConfigHolder
    sink: UsageSink
    upstream: Upstream
    metrics: Metrics
    dataplane_id: str
    new_id: Callable[[], str]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Limits and budgets (None: none enforced, e.g. tests of other things).
    quota: QuotaTable | None = None
    reserve_spend: bool = True  # see dataplane.settings.Settings.reserve_spend
    # Set when `quota` gets a lease response: a refusal the next lease may lift waits.
    lease_signal: LeaseSignal = field(default_factory=LeaseSignal)
    # Events being settled in a thread (see `_start_settle`); drained at cleanup.
    deferred: set[asyncio.Task[None]] = field(default_factory=set)
    # Admitted requests not settled yet, journaled as they go.
    inflight: InFlight = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inflight", InFlight(self.sink, self.dataplane_id))
        if self.quota is not None:
            self.quota.on_room = self.lease_signal.notify


def metered(
    endpoint: Endpoint, deps: Deps, inner: Inner, *, path_model: str | None = None
) -> Handler:
    """`path_model`: the match_info key whose value names the model (Azure deployments)."""
    holder = deps.holder
    metrics = deps.metrics
    new_id = deps.new_id
    path = endpoint.path
    protocol = endpoint.family

    async def handler(request: web.Request) -> web.StreamResponse:
        event_id = new_id()
        rec = RequestRecord(
            event_id,
            client_request_id(request.headers.get(REQUEST_ID_HEADER)) or event_id,
            path,
            time.time_ns(),
            time.perf_counter(),
            request.remote or "",
        )
        settling = False

        def start_settle() -> Awaitable[None] | None:
            nonlocal settling
            if settling:
                return None
            settling = True
            deps.inflight.settled(rec)
            return _start_settle(rec, deps)

        request[_START_SETTLE] = start_settle
        cancelled = False
        # Once settling started (a stream about to end), the record is the event's:
        # what fails after it (the last write) changes neither.
        try:
            verdict = await _admission(request, rec, holder, endpoint, deps, path_model)
            if type(verdict) is Refused:
                raise verdict.error
            if endpoint.kind is not Kind.LISTING:  # bound upstream
                await deps.inflight.admitted(rec)
            resp = await inner(request, rec, verdict)
            if not rec.http_status:
                rec.http_status = resp.status
            return resp
        except errors.GatewayError as e:
            if not settling:
                rec.fail(e.status, e.code)
            verdict = rec.verdict
            headers = verdict.headers if verdict is not None else None
            return error_response(e, protocol, rec.request_id, headers)
        except asyncio.CancelledError:
            cancelled = True
            if not settling and not rec.error_type:
                rec.fail(errors.ClientDisconnected.status, errors.ClientDisconnected.code)
            raise
        except Exception:
            log.exception("unhandled error in %s (request %s)", path, rec.request_id)
            if not settling:
                rec.fail(500, "internal_error")
            return error_response(errors.GatewayError(), protocol, rec.request_id)
        finally:
            metrics.observe(path, rec.http_status, time.perf_counter() - rec.start_mono)
            if rec.verdict is not None and rec.verdict.shadow_reason:
                metrics.shadow_denial(rec.verdict.shadow_reason)
            journaled = start_settle()
            if journaled is not None and not cancelled:  # never await once cancelled
                await asyncio.shield(journaled)

    return handler


async def settle_now(request: web.Request) -> None:
    """Settle and emit the request's usage event now, as recorded so far (once per request).

    For handlers that write the response themselves: await it before ending it.
    """
    start = request.get(_START_SETTLE)
    journaled = start() if start is not None else None
    if journaled is not None:
        await asyncio.shield(journaled)


async def drain_deferred(deps: Deps) -> None:
    """Wait for events still being settled (app cleanup, before the sink stops)."""
    await deps.inflight.close()
    while deps.deferred:
        await asyncio.gather(*deps.deferred, return_exceptions=True)


async def read_body(request: web.Request, max_body: int) -> bytes:
    if request.content_length is not None and request.content_length > max_body:
        raise errors.RequestTooLarge(f"The request body is larger than {max_body} bytes.")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.RequestTooLarge(f"The request body is larger than {max_body} bytes.") from None
    except ConnectionResetError:  # the client hung up mid-body: its doing, not a fault
        raise errors.ClientDisconnected() from None


async def _admission(
    request: web.Request,
    rec: RequestRecord,
    holder: ConfigHolder,
    endpoint: Endpoint,
    deps: Deps,
    path_model: str | None,
) -> Verdict:
    """The request's facts → `admit`; the verdict is recorded for the usage event."""
    cfg = holder.current
    if cfg is None:
        raise errors.NotReady()
    headers = request.headers
    now = rec.start_ns / 1e9
    found = find_key(cfg.keys_by_id, presented_authorization(headers), now)
    if rec.start_mono >= holder.stale_after:  # --max-config-age passed (config/freshness.py)
        verdict = refuse_stale(found, rec.peer, holder.config_age_s(rec.start_mono))
        rec.verdict = verdict
        return verdict
    body: bytes | errors.GatewayError = b""
    # A caller whose key is unknown never gets its body read (nor judged).
    if endpoint.reads_body and not isinstance(found, errors.GatewayError):
        try:
            body = await read_body(request, deps.max_body_bytes)
        except (errors.RequestTooLarge, errors.ClientDisconnected) as e:
            body = e  # refused at the body step, after the caller checks
    ask = Ask(
        headers,
        rec.peer,
        body,
        request.match_info.get(path_model) if path_model else None,
        request.raw_path,
    )
    verdict = admit(found, ask, endpoint, now)
    if (
        type(verdict) is Admitted
        and deps.quota is not None
        and endpoint.kind is not Kind.LISTING
        and verdict.key.workspace.quota  # a workspace with no rules pays nothing here
    ):
        verdict = await _check_quota(deps, rec, verdict, now)
    rec.verdict = verdict
    rec.model = verdict.model
    if endpoint.kind is Kind.MODEL and (type(verdict) is Admitted or verdict.body_read):
        assert verdict.key is not None and isinstance(body, bytes)
        rec.prompt = PromptCapture(verdict.key.prompt_logging, endpoint.path, len(body))
        req = verdict.request
        if req is not None:
            rec.stream = req.stream  # type: ignore[union-attr]
            rec.prompt.request(req.body)  # type: ignore[union-attr]
    return verdict


async def _check_quota(deps: Deps, rec: RequestRecord, admitted: Admitted, now: float) -> Verdict:
    """Limits and budgets. A refusal a lease may lift (this node is short, the fleet is
    not) waits for the leases that follow, up to LEASE_WAIT_S in all: quota moves
    between nodes within a few report rounds, and a budget's refusal is final for the
    caller."""
    table = deps.quota
    assert table is not None
    reserve = deps.reserve_spend
    verdict, rec.quota, wait = check_quota(admitted, table, now, loaded_counter, reserve)
    deadline = time.monotonic() + LEASE_WAIT_S
    while wait and (left := deadline - time.monotonic()) > 0:
        if not await deps.lease_signal.next_lease(left):
            break
        verdict, rec.quota, wait = check_quota(
            admitted, table, time.time(), loaded_counter, reserve
        )
    return verdict


def _settle_quota(deps: Deps, rec: RequestRecord, event: usage_pb2.UsageEvent | None) -> None:
    """The request's quota moves to its actual figures (once; every request's event,
    whatever ended it, comes through here)."""
    res = rec.quota
    if res is not None and deps.quota is not None:
        rec.quota = None
        settle_quota(deps.quota, res, event, relayed=rec.first_byte is not None)


def record_unparsed(deps: Deps, peer: str, err: errors.GatewayError) -> None:
    """The usage event of a request that could not even be parsed (wire.GatewayRunner):
    no endpoint, no key, only who sent it and what it was told."""
    event_id = deps.new_id()
    rec = RequestRecord(event_id, event_id, "", time.time_ns(), time.perf_counter(), peer)
    rec.fail(err.status, err.code)
    _emit(deps, rec, rec.start_mono)


def _start_settle(rec: RequestRecord, deps: Deps) -> Awaitable[None] | None:
    """Emit the event now, or start a task that settles it in a thread (then emits);
    what it returns, unless None, is done once the event is journaled."""
    end = time.perf_counter()  # the request ended now; settling is bookkeeping
    if settles_in_thread(rec):
        task = asyncio.get_running_loop().create_task(_settle_in_thread(rec, end, deps))
        deps.deferred.add(task)
        task.add_done_callback(deps.deferred.discard)
        return task
    return _emit(deps, rec, end)


async def _settle_in_thread(rec: RequestRecord, end: float, deps: Deps) -> None:
    try:
        event = await asyncio.to_thread(settle, rec, end, deps.dataplane_id, counter_for_model)
    except Exception:
        log.exception("usage settlement failed for request %s", rec.request_id)
        # Without the estimate and the prompt text: the event itself is never dropped.
        rec.prompt = None
        journaled = _emit(deps, rec, end)
    else:
        journaled = _send(deps, event, rec)
    if journaled is not None:
        await journaled


def _emit(deps: Deps, rec: RequestRecord, end: float) -> Awaitable[None] | None:
    """Settle inline: only when there is nothing to tokenise (no counter is given)."""
    try:
        return _send(deps, settle(rec, end, deps.dataplane_id, None), rec)
    except Exception:  # the contract says emit never raises; a bug must not 500 a request
        log.exception("usage event failed for request %s", rec.request_id)
        _settle_quota(deps, rec, None)
        return None


def _send(deps: Deps, event: usage_pb2.UsageEvent, rec: RequestRecord) -> Awaitable[None] | None:
    _settle_quota(deps, rec, event)
    journaled = deps.sink.emit(event)
    if event.anomalies:
        deps.metrics.usage_anomalies(event.anomalies)
    return journaled
