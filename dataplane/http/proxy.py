"""The shared proxy pipeline behind every model endpoint.

authorize → prepare the body (per endpoint, dataplane/core/chat_request.py) →
policy → resolve the target chain (routes, then providers; core/routing.py) →
open upstream with fallback → stream or pass the body back → usage (provider's,
else estimated) → price. An `EndpointSpec` says what differs per endpoint: the
upstream operation, the wire format (providers/) and the body preparer.

Fallback: a target that answers 429 or 5xx, cannot be connected to, or sends no
headers within the first-byte timeout is recorded as an attempt and the next
target is tried. All of that happens before the client response is prepared,
so the client never sees a byte of a failed attempt; the last target's answer
(even a 429/5xx) is passed through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from dataplane.config.compiled import CompiledProvider, CompiledWorkspace
from dataplane.core import errors
from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import estimate_from_text, estimate_usage
from dataplane.core.policy import permitted_targets
from dataplane.core.prompt_logging import PromptCapture
from dataplane.core.routing import Target
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import error_code
from dataplane.http.errors import sse_error_event
from dataplane.http.metering import Deps, authorize, current_config, emit_usage_now, enforce
from dataplane.http.metrics import Metrics
from dataplane.http.record import RequestRecord
from dataplane.http.upstream import Upstream, provider_headers, response_headers
from dataplane.providers import WireFormat
from dataplane.tokens import encoding_for_model, loaded_encoding_for_model
from oggy.v1 import usage_pb2

log = logging.getLogger(__name__)
SSE_CONTENT_TYPE = "text/event-stream"
# Longest error body read from a failed attempt before trying the next target.
MAX_ERROR_BODY = 64 * 1024

Prepare = Callable[[bytes, str | None], ChatRequest]
# target → (url, headers, payload) of one attempt.
BuildAttempt = Callable[[Target[CompiledProvider]], tuple[object, Mapping[str, str], bytes | None]]


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    endpoint: str  # recorded in usage events and metrics: `/v1/chat/completions`
    op: str  # upstream operation appended by the provider module: `chat/completions`
    wire: WireFormat
    prepare: Prepare
    # Chat-style streams: the gateway asked for usage; hide it unless the client did.
    hides_usage_chunk: bool = False


def is_fallback_status(status: int) -> bool:
    return status == 429 or status >= 500


async def read_body(request: web.Request, max_body: int) -> bytes:
    if request.content_length is not None and request.content_length > max_body:
        raise errors.RequestTooLarge(f"The request body is larger than {max_body} bytes.")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.RequestTooLarge(f"The request body is larger than {max_body} bytes.") from None


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
) -> tuple[aiohttp.ClientResponse, Target[CompiledProvider]]:
    """The first usable upstream response along `targets` (see the module docstring).

    `rec.provider`/`rec.model` name the target being tried; each try is appended to
    `rec.attempts` (the served one last; its error_type is filled in by the caller).
    Raises the last target's UpstreamUnavailable / UpstreamTimeout.
    """
    last = len(targets) - 1
    for i, target in enumerate(targets):
        rec.provider = target.provider.name
        rec.model = target.model
        url, headers, payload = build(target)
        started = time.perf_counter()
        try:
            resp = await upstream.open(url, headers, payload, method)  # type: ignore[arg-type]
        except (errors.UpstreamTimeout, errors.UpstreamUnavailable) as e:
            kind = "timeout" if isinstance(e, errors.UpstreamTimeout) else "connect"
            metrics.upstream_error(kind)
            a = _attempt(rec, target, started)
            a.error_type = e.code
            if i == last:
                raise
            continue
        if i < last and is_fallback_status(resp.status):
            body = await _read_error_body(resp, idle_timeout_s)
            a = _attempt(rec, target, started)
            a.http_status = resp.status
            a.error_type = error_code(_loads(body)) or "upstream_error"
            metrics.upstream_error("http_5xx" if resp.status >= 500 else "http_4xx")
            continue
        a = _attempt(rec, target, started)
        a.http_status = resp.status
        return resp, target
    raise errors.ModelNotFound()  # no targets: callers check first


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

    def __init__(
        self,
        deps: Deps,
        spec: EndpointSpec,
        *,
        max_body_bytes: int,
        idle_timeout_s: float,
        model_from_path: str | None = None,
    ) -> None:
        self._holder = deps.holder
        self._upstream = deps.upstream
        self._metrics = deps.metrics
        self._spec = spec
        self._max_body = max_body_bytes
        self._idle = idle_timeout_s
        # Azure-style paths carry the model (deployment) in this match_info key.
        self._model_from_path = model_from_path

    async def __call__(self, request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        spec = self._spec
        cfg = current_config(self._holder)
        key = authorize(request, rec, cfg)
        path_model = (
            request.match_info.get(self._model_from_path) if self._model_from_path else None
        )
        raw = await read_body(request, self._max_body)
        rec.prompt = PromptCapture(key.prompt_logging, spec.endpoint, len(raw))
        req = spec.prepare(raw, path_model, max_tokens_cap=key.policy.max_tokens_cap)
        rec.prompt.request(req.body)
        rec.model = rec.requested_model = req.model
        rec.stream = req.stream
        # Permission before existence: a denied model is 403 whether or not it is served.
        enforce(key.policy.check_model(req.model), rec)
        enforce(key.policy.check_max_tokens(req.max_output_tokens), rec)
        workspace = key.workspace
        targets = workspace.targets(req.model, spec.wire.family)
        if not targets:
            raise errors.ModelNotFound(
                f"The model {req.model!r} does not exist or is not served in this workspace"
                f" for {spec.endpoint}.",
                param="model",
            )
        # Fallbacks never reach a provider the policy does not allow.
        targets, decision = permitted_targets(key.policy, targets, provider_name)
        enforce(decision, rec)
        client_headers = request.headers

        def build(target: Target[CompiledProvider]) -> tuple[object, CIMultiDict[str], bytes]:
            p = target.provider
            headers = provider_headers(p, client_headers)
            return p.url(spec.op, target.model), headers, req.payload_for(target.model)

        resp, served = await open_with_fallback(
            self._upstream, self._metrics, rec, targets, build, self._idle
        )
        call = Call(rec, req, spec.wire, workspace, served)
        rec.upstream_request_id = resp.headers.get("x-request-id", "")
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
    """One request's state after routing: what settles usage and cost."""

    rec: RequestRecord
    req: ChatRequest | None  # None for pass-through requests (no estimates)
    wire: WireFormat
    workspace: CompiledWorkspace
    served: Target[CompiledProvider]


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
        if rec.prompt.logs_text:  # FULL logging: redact off the loop
            await asyncio.to_thread(rec.prompt.seal, time.time())
    if status < 300:
        rec.usage = call.wire.usage(parsed)
        if rec.usage is None and call.req is not None:
            await asyncio.to_thread(_estimate_whole, call, parsed)
    else:
        rec.error_type = error_code(parsed) or "upstream_error"
        _mark_last_attempt(rec, rec.error_type)
        metrics.upstream_error("http_5xx" if status >= 500 else "http_4xx")
    rec.http_status = status
    out = web.Response(
        status=status, body=body, headers=response_headers(resp.headers, rec.request_id)
    )
    rec.first_byte = time.perf_counter()
    price(call)
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
    headers = response_headers(resp.headers, rec.request_id)
    headers["Cache-Control"] = "no-cache"
    out = _StreamOut(status=resp.status, headers=headers)
    rec.http_status = resp.status
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
        rec.fail(499, "client_disconnected")
        resp.close()
        await settle_stream_usage(call, tap)
        return out
    except BaseException:  # CancelledError: the client went away (or shutdown)
        rec.fail(499, "client_disconnected")
        resp.close()
        # No awaiting while cancelled. With the tokenizer loaded (warmed at startup)
        # the estimate runs inline (rare path, bounded input); never load it here:
        # the usage emitter then runs the estimate in a thread before emitting.
        if _settle_ready(call, tap):
            _settle_now(call, tap)
        else:
            rec.defer_settle(lambda: _settle_now(call, tap))
        raise

    settled = False
    try:
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
                held += prefix + sse_error_event(failure)
        # Usage is settled and emitted (journaled) before the client sees the end.
        await _settle_stream(call, tap)
        settled = True
        await emit_usage_now(request)
        await out.write_eof(held)
    except ConnectionResetError:
        if failure is None and not settled:
            rec.fail(499, "client_disconnected")
    if not settled:
        await _settle_stream(call, tap)
    return out


class _StreamOut(web.StreamResponse):
    """A streamed response whose headers go out with its first body bytes.

    aiohttp's own `Response` buffers its headers like this; `write(b"")` sends
    them alone when there is nothing to go with them. (Older aiohttp without the
    switch sends them at `prepare`, which is what this class avoids, not a fault.)
    """

    _send_headers_immediately = False


async def _settle_stream(call: Call, tap: StreamTap | None) -> None:
    await settle_stream_usage(call, tap)
    prompt = call.rec.prompt
    if prompt is not None and prompt.logs_text:  # FULL logging: redact off the loop
        await asyncio.to_thread(prompt.seal, time.time())


async def settle_stream_usage(call: Call, tap: StreamTap | None) -> None:
    if tap is None or tap.usage is not None or call.req is None:
        _settle_now(call, tap)
        return
    # Tokenising is CPU work (and the first use loads an encoding): off the loop.
    await asyncio.to_thread(_settle_now, call, tap)


def _settle_ready(call: Call, tap: StreamTap | None) -> bool:
    """Whether `_settle_now` can run without loading a tokenizer."""
    if tap is None or tap.usage is not None or call.req is None:
        return True
    return loaded_encoding_for_model(call.served.model) is not None


def _settle_now(call: Call, tap: StreamTap | None) -> None:
    """Provider usage when the stream carried it, else a tiktoken estimate; then price."""
    rec = call.rec
    if tap is not None and tap.usage is not None:
        rec.usage = tap.usage
    elif tap is not None and call.req is not None:
        count = _counter(call.served.model)
        if count is not None:
            req = call.req
            rec.usage = estimate_usage(
                req.messages,
                tap.kept(),
                tap.total_bytes,
                count,
                text_of=call.wire.stream_text,
                max_output_tokens=req.max_output_tokens,
            )
            rec.token_source = "estimated"
    price(call)


def _estimate_whole(call: Call, parsed: object) -> None:
    """A successful response without usage: estimate from the request and the reply text."""
    req = call.req
    count = _counter(call.served.model)
    if req is None or count is None:
        return
    call.rec.usage = estimate_from_text(
        req.messages,
        call.wire.response_text(parsed),
        count,
        max_output_tokens=req.max_output_tokens,
    )
    call.rec.token_source = "estimated"


def _counter(model: str) -> Callable[[str], int] | None:
    try:
        encoding = encoding_for_model(model)
    except Exception:  # no packaged encoding: report no counts rather than fail
        log.warning("no tokenizer for model %r; usage left empty", model, exc_info=True)
        return None
    return lambda text: len(encoding.encode_ordinary(text))


def price(call: Call) -> None:
    """Cost of the known usage at the serving provider's rates (unset when unpriced)."""
    rec = call.rec
    if rec.usage is None:
        return
    cost = call.workspace.prices.price(
        call.served.provider.kind_name,
        call.served.model,
        rec.start_ns // 1_000_000_000,
        rec.usage.token_counts(),
    )
    if cost is not None:
        rec.cost_micro_usd = cost.micro_usd
        rec.price_catalog_version = cost.catalog_version


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


def provider_name(target: Target[CompiledProvider]) -> str:
    return target.provider.name
