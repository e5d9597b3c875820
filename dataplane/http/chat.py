"""POST /v1/chat/completions: authorize, route, forward, stream back, record usage."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import orjson
from aiohttp import web

from dataplane.core import errors
from dataplane.core.chat_request import ChatRequest, prepare_chat
from dataplane.core.estimate import estimate_usage
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import error_code, usage_from_response
from dataplane.http.errors import sse_error_event
from dataplane.http.metering import Deps, authorize, current_config, enforce
from dataplane.http.record import RequestRecord
from dataplane.http.upstream import request_headers, response_headers
from dataplane.tokens import encoding_for_model

log = logging.getLogger(__name__)
SSE_CONTENT_TYPE = "text/event-stream"


class ChatHandler:
    def __init__(self, deps: Deps, *, max_body_bytes: int, idle_timeout_s: float) -> None:
        self._holder = deps.holder
        self._upstream = deps.upstream
        self._metrics = deps.metrics
        self._max_body = max_body_bytes
        self._idle = idle_timeout_s

    async def __call__(self, request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        cfg = current_config(self._holder)
        key = authorize(request, rec, cfg)
        chat = prepare_chat(await self._read_body(request))
        rec.model = chat.model
        rec.stream = chat.stream
        # Permission before existence: a denied model is 403 whether or not it is served.
        enforce(key.policy.check_model(chat.model))
        enforce(key.policy.check_max_tokens(chat.max_output_tokens))
        provider = key.workspace.router.route(chat.model)
        if provider is None:
            raise errors.ModelNotFound(
                f"The model {chat.model!r} does not exist or is not served in this workspace.",
                param="model",
            )
        rec.provider = provider.name

        try:
            resp = await self._upstream.open(
                provider.chat_url,
                request_headers(request.headers, provider.authorization),
                chat.payload,
            )
        except errors.UpstreamTimeout:
            self._metrics.upstream_error("timeout")
            raise
        except errors.UpstreamUnavailable:
            self._metrics.upstream_error("connect")
            raise
        rec.upstream_request_id = resp.headers.get("x-request-id", "")
        if (
            chat.stream
            and resp.status < 300
            and resp.headers.get("Content-Type", "").startswith(SSE_CONTENT_TYPE)
        ):
            return await self._stream(request, rec, chat, resp)
        return await self._buffered(rec, resp)

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max_body:
            raise errors.RequestTooLarge(f"The request body is larger than {self._max_body} bytes.")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise errors.RequestTooLarge(
                f"The request body is larger than {self._max_body} bytes."
            ) from None

    async def _buffered(self, rec: RequestRecord, resp: aiohttp.ClientResponse) -> web.Response:
        """A whole JSON response (or any upstream error): read, inspect, pass through unchanged."""
        try:
            async with asyncio.timeout(self._idle):
                body = await resp.read()
        except TimeoutError:
            resp.close()
            self._metrics.upstream_error("timeout")
            raise errors.UpstreamTimeout() from None
        except aiohttp.ClientError:
            resp.close()
            self._metrics.upstream_error("broken")
            raise errors.UpstreamUnavailable("The upstream response was cut short.") from None
        except BaseException:
            resp.close()
            raise
        resp.release()
        status = resp.status
        parsed = _loads(body)
        if status < 300:
            rec.usage = usage_from_response(parsed)
        else:
            rec.error_type = error_code(parsed) or "upstream_error"
            self._metrics.upstream_error("http_5xx" if status >= 500 else "http_4xx")
        rec.http_status = status
        out = web.Response(
            status=status, body=body, headers=response_headers(resp.headers, rec.request_id)
        )
        rec.first_byte = time.perf_counter()
        return out

    async def _stream(
        self,
        request: web.Request,
        rec: RequestRecord,
        chat: ChatRequest,
        resp: aiohttp.ClientResponse,
    ) -> web.StreamResponse:
        headers = response_headers(resp.headers, rec.request_id)
        headers["Cache-Control"] = "no-cache"
        out = web.StreamResponse(status=resp.status, headers=headers)
        rec.http_status = resp.status
        tap = StreamTap(drop_usage_chunk=not chat.client_wants_usage)
        loop = asyncio.get_running_loop()
        idle = self._idle
        failure: errors.GatewayError | None = None
        try:
            await out.prepare(request)
            content = resp.content
            async with asyncio.timeout(None) as deadline:
                while True:
                    # Only the wait for upstream is bounded; a slow client is not a stall.
                    deadline.reschedule(loop.time() + idle)
                    try:
                        chunk = await content.readany()
                    except aiohttp.ClientError:
                        failure = errors.UpstreamUnavailable("The upstream stream broke off.")
                        self._metrics.upstream_error("broken")
                        break
                    deadline.reschedule(None)
                    if not chunk:
                        break
                    data = tap.feed(chunk)
                    if data:
                        if rec.first_byte is None:
                            rec.first_byte = time.perf_counter()
                        await out.write(data)
        except TimeoutError:
            failure = errors.UpstreamTimeout("The upstream stream stalled.")
            self._metrics.upstream_error("idle_timeout")
        except ConnectionResetError:  # includes aiohttp's ClientConnectionResetError on write
            rec.fail(499, "client_disconnected")
            resp.close()
            await self._settle_usage(rec, chat, tap)
            return out
        except BaseException:  # CancelledError: the client went away (or shutdown)
            rec.fail(499, "client_disconnected")
            resp.close()
            # No awaiting while cancelled: estimate inline (rare path, bounded input).
            _settle_usage_now(rec, chat, tap)
            raise

        try:
            if failure is None:
                resp.release()
                if tap.error_type:
                    rec.error_type = tap.error_type
                tail = tap.finish()
                if tail:
                    await out.write(tail)
            else:
                resp.close()
                rec.fail(failure.status, failure.code)
                # A half-sent event would swallow the error event: end it first.
                prefix = b"\n\n" if tap.partial_sent() else b""
                await out.write(prefix + sse_error_event(failure))
            await out.write_eof()
        except ConnectionResetError:
            if failure is None:
                rec.fail(499, "client_disconnected")
        await self._settle_usage(rec, chat, tap)
        return out

    async def _settle_usage(self, rec: RequestRecord, chat: ChatRequest, tap: StreamTap) -> None:
        if tap.usage is not None:
            rec.usage = tap.usage
            return
        # Tokenising is CPU work (and the first use loads an encoding): off the loop.
        await asyncio.to_thread(_settle_usage_now, rec, chat, tap)


def _settle_usage_now(rec: RequestRecord, chat: ChatRequest, tap: StreamTap) -> None:
    """Provider usage when the stream carried it, else a tiktoken estimate."""
    if tap.usage is not None:
        rec.usage = tap.usage
        return
    try:
        encoding = encoding_for_model(chat.model)
    except Exception:  # no packaged encoding: report no counts rather than fail
        log.warning("no tokenizer for model %r; usage left empty", chat.model, exc_info=True)
        return
    rec.usage = estimate_usage(
        chat.messages,
        tap.kept(),
        tap.total_bytes,
        lambda text: len(encoding.encode_ordinary(text)),
    )
    rec.token_source = "estimated"


def _loads(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
