"""The shared proxy pipeline behind every model endpoint, once a request is admitted.

admission (dataplane/core/admission.py, taken by `metering.metered`: the caller,
the body, the model, where it may go) → open upstream with fallback → stream or
pass the body back → observe usage (the settlement, core/settlement.py, turns it
into the usage event). An `EndpointSpec` says what differs per endpoint: the
admission endpoint (path, wire family, body preparer), the upstream operation
and the wire format (providers/).

Fallback: a target that answers 429 or 5xx, cannot be connected to, or sends no
headers within the first-byte timeout is recorded as an attempt and the next
target is tried. All of that happens before the client response is prepared,
so the client never sees a byte of a failed attempt; the last target's answer
(even a 429/5xx) is passed through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from dataplane.core.admission import Admitted, Endpoint
from dataplane.core.chat_request import ChatRequest
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import response_usage, stream_usage
from dataplane.core.stream_tap import StreamTap
from dataplane.core.trace import trace_context
from dataplane.core.usage_extract import error_code
from dataplane.http.errors import sse_error_event
from dataplane.http.metering import Deps, settle_now
from dataplane.http.metrics import Metrics
from dataplane.http.upstream import Upstream, provider_headers, response_headers
from dataplane.providers import WireFormat
from oggy.contract import errors
from oggy.contract.compile import CompiledProvider
from oggy.contract.routing import Target
from oggy.v1 import usage_pb2

SSE_CONTENT_TYPE = "text/event-stream"
CLIENT_DISCONNECTED = "client_disconnected"
# Longest error body read from a failed attempt before trying the next target.
MAX_ERROR_BODY = 64 * 1024

# target → (url, headers, payload) of one attempt.
BuildAttempt = Callable[[Target[CompiledProvider]], tuple[object, Mapping[str, str], bytes | None]]


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    endpoint: Endpoint  # what admission reads: path, wire family, body preparer
    op: str  # upstream operation appended by the provider module: `chat/completions`
    wire: WireFormat
    # Chat-style streams: the gateway asked for usage; hide it unless the client did.
    hides_usage_chunk: bool = False


def is_fallback_status(status: int) -> bool:
    return status == 429 or status >= 500


def _attempt(
    rec: RequestRecord, target: Target[CompiledProvider], started: float
) -> usage_pb2.UpstreamAttempt:
    a = usage_pb2.UpstreamAttempt(
        provider=target.provider.name,
        model=target.model,
        latency_ms=(time.perf_counter() - started) * 1000.0,
    )
    rec.attempts.append(a)
    return a


async def open_with_fallback(
    upstream: Upstream,
    metrics: Metrics,
    rec: RequestRecord,
    targets: Sequence[Target[CompiledProvider]],
    build: BuildAttempt,
    idle_timeout_s: float,
    method: str = "POST",
) -> aiohttp.ClientResponse:
    """The first usable upstream response along `targets` (see the module docstring).

    `rec.provider`/`rec.model` name the target being tried; each try is appended to
    `rec.attempts` (the served one last; its error_type is filled in by the caller);
    `rec.served` is the target that answered.
    Raises the last target's UpstreamUnavailable / UpstreamTimeout.
    """
    last = len(targets) - 1
    for i, target in enumerate(targets):
        rec.provider = target.provider.name
        rec.model = target.model
        url, headers, payload = build(target)
        started = time.perf_counter()
        try:
            resp = await upstream.open(url, headers, payload, method, target.provider.timeouts)  # type: ignore[arg-type]
        except (errors.UpstreamTimeout, errors.UpstreamUnavailable) as e:
            kind = "timeout" if isinstance(e, errors.UpstreamTimeout) else "connect"
            metrics.upstream_error(kind)
            a = _attempt(rec, target, started)
            a.error_type = e.code
            if i == last:
                raise
            continue
        except asyncio.CancelledError:
            # The client hung up while this target had not answered (site.py): the
            # attempt was cut short by us, not failed by the provider.
            _attempt(rec, target, started).error_type = CLIENT_DISCONNECTED
            raise
        if i < last and is_fallback_status(resp.status):
            body = await _read_error_body(resp, idle_timeout_s)
            a = _attempt(rec, target, started)
            a.http_status = resp.status
            a.error_type = error_code(_loads(body)) or "upstream_error"
            metrics.upstream_error("http_5xx" if resp.status >= 500 else "http_4xx")
            continue
        a = _attempt(rec, target, started)
        a.http_status = resp.status
        rec.served = target
        rec.upstream_request_id = resp.headers.get("x-request-id", "")
        return resp
    raise errors.ModelNotFound()  # no targets: admission refuses those first


async def _read_error_body(resp: aiohttp.ClientResponse, timeout_s: float) -> bytes:
    # Bounded by the session's sock_read (the idle timeout, `timeout_s`).
    try:
        body = await resp.content.read(MAX_ERROR_BODY)
    except (TimeoutError, aiohttp.ClientError):
        body = b""
    resp.close()  # never reuse a connection whose body may be unread
    return body


class ProxyHandler:
    """One model endpoint (chat, completions, embeddings, responses, messages)."""

    def __init__(self, deps: Deps, spec: EndpointSpec, *, idle_timeout_s: float) -> None:
        self._upstream = deps.upstream
        self._metrics = deps.metrics
        self._spec = spec
        self._idle = idle_timeout_s

    async def __call__(
        self, request: web.Request, rec: RequestRecord, admitted: Admitted
    ) -> web.StreamResponse:
        spec = self._spec
        req = admitted.request
        assert isinstance(req, ChatRequest)
        client_headers = request.headers
        trace = trace_context(client_headers)

        def build(target: Target[CompiledProvider]) -> tuple[object, CIMultiDict[str], bytes]:
            p = target.provider
            headers = provider_headers(p, client_headers, trace)
            return p.url(spec.op, target.model), headers, req.payload_for(target.model)

        resp = await open_with_fallback(
            self._upstream, self._metrics, rec, admitted.targets, build, self._idle
        )
        call = Call(rec, req, spec.wire, spec.endpoint.family, admitted.headers)
        if (
            req.stream
            and resp.status < 300
            and resp.headers.get("Content-Type", "").startswith(SSE_CONTENT_TYPE)
        ):
            tap = StreamTap(
                drop_usage_chunk=spec.hides_usage_chunk and not req.client_wants_usage,
                observe=spec.wire.observe,
            )
            return await relay_stream(request, call, resp, tap, self._idle, self._metrics)
        return await relay_buffered(call, resp, self._idle, self._metrics)


@dataclass(slots=True)
class Call:
    """One admitted request's relay: what it observes usage with, how it answers."""

    rec: RequestRecord
    req: ChatRequest | None  # None for pass-through requests (no estimates)
    wire: WireFormat
    protocol: str  # the caller's (error shape of a stream's final error event)
    headers: Mapping[str, str]  # admission's response headers


async def relay_buffered(
    call: Call, resp: aiohttp.ClientResponse, idle_s: float, metrics: Metrics
) -> web.Response:
    """A whole JSON response (or any upstream error): read, inspect, pass through unchanged."""
    rec = call.rec
    try:
        # Gaps in the body are bounded by the session's sock_read (`idle_s`).
        body = await resp.read()
    except TimeoutError:
        resp.close()
        metrics.upstream_error("timeout")
        _mark_last_attempt(rec, "upstream_timeout")
        raise errors.UpstreamTimeout() from None
    except aiohttp.ClientError:
        resp.close()
        metrics.upstream_error("broken")
        _mark_last_attempt(rec, "upstream_unavailable")
        raise errors.UpstreamUnavailable("The upstream response was cut short.") from None
    except BaseException:
        resp.close()
        raise
    resp.release()
    status = resp.status
    parsed = _loads(body) if _is_json(resp) else None
    if rec.prompt is not None:
        rec.prompt.response_body(len(body), parsed)
    if status < 300:
        response_usage(rec, call.req, call.wire, parsed)
    else:
        rec.error_type = error_code(parsed) or "upstream_error"
        _mark_last_attempt(rec, rec.error_type)
        metrics.upstream_error("http_5xx" if status >= 500 else "http_4xx")
    rec.http_status = status
    out = web.Response(
        status=status,
        body=body,
        headers=response_headers(resp.headers, rec.request_id, call.headers),
    )
    rec.first_byte = time.perf_counter()
    return out


async def relay_stream(
    request: web.Request,
    call: Call,
    resp: aiohttp.ClientResponse,
    tap: StreamTap | None,
    idle: float,
    metrics: Metrics,
) -> web.StreamResponse:
    """Stream the upstream body through as it arrives (`tap` watches SSE for usage)."""
    rec = call.rec
    headers = response_headers(resp.headers, rec.request_id, call.headers)
    headers["Cache-Control"] = "no-cache"
    out = _StreamOut(status=resp.status, headers=headers)
    rec.http_status = resp.status
    rec.tap = tap  # its progress is journaled while in flight (inflight.py)
    failure: errors.GatewayError | None = None
    prompt = rec.prompt
    # The last bytes of an upstream body that is complete already: they go out
    # with the end of the response, after usage is journaled, in one write.
    held = b""
    try:
        await out.prepare(request)  # headers wait for the first body bytes
        content = resp.content
        # What came in with the response headers, if anything; else the headers go
        # out alone now, so the client learns at once that its stream has started.
        chunk = content.read_nowait()
        if not chunk and not content.at_eof():
            await out.write(b"")
        # Gaps between chunks are bounded by the session's sock_read (`idle`); it
        # only counts while aiohttp reads the socket, so a slow client is not a stall.
        while True:
            if not chunk:
                try:
                    chunk = await content.readany()
                except TimeoutError:  # aiohttp's SocketTimeoutError (also a ClientError)
                    failure = errors.UpstreamTimeout("The upstream stream stalled.")
                    metrics.upstream_error("idle_timeout")
                    break
                except aiohttp.ClientError:
                    failure = errors.UpstreamUnavailable("The upstream stream broke off.")
                    metrics.upstream_error("broken")
                    break
                if not chunk:
                    break
            if prompt is not None:
                prompt.stream_chunk(chunk)
            data = tap.feed(chunk) if tap is not None else chunk
            chunk = b""
            if data:
                if rec.first_byte is None:
                    rec.first_byte = time.perf_counter()
                if held:
                    data, held = held + data, b""
                if content.is_eof():
                    held = data  # the upstream body is complete: no more waiting
                else:
                    await out.write(data)
    except ConnectionResetError:  # includes aiohttp's ClientConnectionResetError on write
        rec.fail(499, CLIENT_DISCONNECTED)
        resp.close()
        stream_usage(rec, call.req, call.wire, tap)
        return out
    except BaseException:  # CancelledError: the client went away (or shutdown)
        rec.fail(499, CLIENT_DISCONNECTED)
        resp.close()
        # No awaiting while cancelled: what the stream carried (or how to estimate
        # it) is recorded, and the settlement runs after (in a thread if it must).
        stream_usage(rec, call.req, call.wire, tap)
        raise

    if failure is None:
        resp.release()
        if tap is not None:
            if tap.error_type:
                rec.error_type = tap.error_type
            held += tap.finish()
    else:
        resp.close()
        rec.fail(failure.status, failure.code)
        _mark_last_attempt(rec, failure.code)
        # A half-sent event would swallow the error event: end it first.
        prefix = b"\n\n" if tap is not None and tap.partial_sent() else b""
        if tap is not None:
            held += prefix + sse_error_event(failure, call.protocol, rec.request_id)
    stream_usage(rec, call.req, call.wire, tap)
    # Usage is settled and emitted (journaled) before the client sees the end.
    await settle_now(request)
    with contextlib.suppress(ConnectionResetError):
        await out.write_eof(held)
    return out


class _StreamOut(web.StreamResponse):
    """A streamed response whose headers go out with its first body bytes.

    aiohttp's own `Response` buffers its headers like this; `write(b"")` sends
    them alone when there is nothing to go with them. (Older aiohttp without the
    switch sends them at `prepare`, which is what this class avoids, not a fault.)
    """

    _send_headers_immediately = False


def _mark_last_attempt(rec: RequestRecord, error_type: str) -> None:
    if rec.attempts and not rec.attempts[-1].error_type:
        rec.attempts[-1].error_type = error_type


def _is_json(resp: aiohttp.ClientResponse) -> bool:
    ctype = resp.headers.get("Content-Type", "")
    return not ctype or "json" in ctype


def _loads(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
