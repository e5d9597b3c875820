"""A mock LLM provider on loopback, for `oggy up --demo`, tests and bench.

OpenAI: `POST /v1/chat/completions`, `/v1/completions`, `/v1/responses` (JSON and SSE),
`/v1/embeddings`, `GET /v1/models`; Azure OpenAI:
`POST /openai/deployments/{deployment}/{chat/completions,completions,embeddings}`;
Anthropic: `POST /v1/messages` (JSON and SSE). Scripted per request by `x-mock-*`
headers or `mock:...` magic strings in the last user message / prompt / input (see
mock_script).
Every request received is recorded; `GET /_mock/requests` returns them (newest last) and
`DELETE /_mock/requests` clears them, so tests can check what a data plane forwarded;
a request it answered carries the `usage` it billed.
A request whose client (the gateway) went away before its reply ended gets `hung_up`:
the time (epoch seconds) the mock noticed, next to `time`, when it arrived.
OpenAI replies carry a provider's usual headers (organization, processing time, rate
limits, a cookie) so a gateway's response-header filter has something to filter. In
process, `runner.app[STATE]` is the MockState: its `requests`, and `hung_up`, set when a
client (the gateway) went away before its reply ended.

    python -m controlplane.devtools.mock_provider --port 0
    runner, port = await start_mock_provider()   # in-process, for tests
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from controlplane.devtools import mock_script
from controlplane.devtools.mock_script import BadRequest, Script
from controlplane.stop_signal import until_stop_signal

# Bounded so a long benchmark cannot grow the mock without limit.
MAX_RECORDED = 10_000
# A stalled stream gives up after this long even if nobody hangs up.
MAX_STALL_S = 600.0


@dataclass(slots=True)
class MockState:
    models: tuple[str, ...]
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Set on shutdown so stalled and delayed handlers end instead of holding the runner.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    # Script overrides for the next requests (POST /_mock/next), oldest first: lets a
    # test make one of two mock instances fail while the same body reaches both.
    forced: deque[dict[str, int]] = field(default_factory=deque)
    # Set when a client hung up before its reply ended (a stall, a delay, a stream).
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)


STATE = web.AppKey("mock_state", MockState)
# The request's entry in MockState.requests, to stamp when its client hangs up.
_ENTRY = web.RequestKey("mock_entry", dict)

# What OpenAI sends besides x-request-id; the gateway passes the rate-limit and
# processing headers and keeps the organization and the cookie to itself.
OPENAI_RESPONSE_HEADERS = {
    "openai-organization": "org-mock",
    "openai-processing-ms": "1",
    "openai-version": "2020-10-01",
    "x-ratelimit-remaining-requests": "99",
    "set-cookie": "__cf_bm=mock; path=/; HttpOnly",
}
# A stream with `split` goes out in pieces of this many bytes.
SPLIT_BYTES = 7


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


async def _record(request: web.Request) -> tuple[bytes, Any]:
    raw = await request.read()
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace")
    entry = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": body,
        "time": time.time(),
    }
    request.app[STATE].requests.append(entry)
    request[_ENTRY] = entry
    return raw, body


def _hung_up(state: MockState, request: web.Request) -> None:
    state.hung_up.set()
    entry = request.get(_ENTRY)
    if entry is not None:
        entry.setdefault("hung_up", time.time())


async def _pause(state: MockState, seconds: float, request: web.Request | None = None) -> None:
    """Sleep up to `seconds`, ending early on shutdown or when the client hangs up."""
    deadline = time.monotonic() + seconds
    while not state.closing.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if request is not None and (request.transport is None or request.transport.is_closing()):
            _hung_up(state, request)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.closing.wait(), timeout=min(left, 0.1))


@dataclass(slots=True)
class _Call:
    body: dict[str, Any]
    script: Script
    n: int
    headers: dict[str, str]


ErrorBody = Callable[[int, str], dict[str, Any]]


async def _prelude(
    request: web.Request,
    validate: Callable[[Any], None],
    error_body: ErrorBody = mock_script.error_body,
    provider_headers: Mapping[str, str] = OPENAI_RESPONSE_HEADERS,
) -> _Call | web.Response:
    """Record, validate, script, delay, and the scripted error status (as a response)."""
    state = request.app[STATE]
    _, body = await _record(request)
    deployment = request.match_info.get("deployment")
    if deployment and isinstance(body, dict) and not body.get("model"):
        body["model"] = deployment  # Azure: the deployment names the model
    try:
        validate(body)
    except BadRequest as e:
        return _json(error_body(400, str(e)), status=400)
    script = mock_script.parse_script(request.headers, body)
    if state.forced:
        script = dataclasses.replace(script, **state.forced.popleft())
    if script.delay_ms:
        await _pause(state, script.delay_ms / 1000, request)
    n = next(state.counter)
    headers = {"x-request-id": f"req_mock_{n}", **provider_headers}
    if script.status != 200:
        if script.status == 429:
            headers["retry-after"] = "1"
        message = f"mock status {script.status}"
        return _json(error_body(script.status, message), script.status, headers)
    # What it bills: tests add up a provider's own account of what it served.
    request[_ENTRY]["usage"] = mock_script.usage(body, script)
    return _Call(body, script, n, headers)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    call = await _prelude(request, mock_script.validate_request)
    if isinstance(call, web.Response):
        return call
    body, script, n, headers = call.body, call.script, call.n, call.headers
    completion_id = f"chatcmpl-mock{n:08d}"
    created = int(time.time())
    if not body.get("stream"):
        if script.error_in_stream:
            return _json(mock_script.error_body(500, "mock error_in_stream"), 500, headers)
        reply = mock_script.completion_body(body, script, completion_id, created)
        return _json(reply, 200, headers)
    return await _stream(request, state, body, script, completion_id, created, headers)


async def _stream(
    request: web.Request,
    state: MockState,
    body: dict[str, Any],
    script: Script,
    completion_id: str,
    created: int,
    headers: dict[str, str],
) -> web.StreamResponse:
    chunks = mock_script.stream_chunks(body, script, completion_id, created)
    return await _write_events(request, state, script, headers, *_data_stream(chunks))


def _data_stream(chunks: list[dict[str, Any]]) -> tuple[list[bytes], bytes, bytes]:
    """OpenAI's chat/completions SSE framing of `chunks`: its events, error event and end."""
    events = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
    error = b"data: " + orjson.dumps(mock_script.error_body(500, "mock error_in_stream")) + b"\n\n"
    return events, error, b"data: [DONE]\n\n"


def _named(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _write_events(
    request: web.Request,
    state: MockState,
    script: Script,
    headers: dict[str, str],
    events: list[bytes],
    error_event: bytes,
    done: bytes,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache", **headers}
    )
    await response.prepare(request)

    async def write(data: bytes) -> None:
        if not script.split:
            await response.write(data)
            return
        for start in range(0, len(data), SPLIT_BYTES):
            await response.write(data[start : start + SPLIT_BYTES])
            await asyncio.sleep(0)  # let a reader in this loop take the piece alone

    # A mid-stream error comes after a couple of words, like a provider failing halfway.
    error_at = min(2, script.words) if script.error_in_stream else None
    try:
        for i, event in enumerate(events):
            if script.stall_after is not None and i >= script.stall_after:
                await _pause(state, MAX_STALL_S, request)
                return response
            if i == error_at:
                await write(error_event)
                return response
            if i and script.chunk_delay_ms:
                await _pause(state, script.chunk_delay_ms / 1000, request)
            await write(event)
        if done:
            await write(done)
        await response.write_eof()
    except ConnectionResetError:
        # The gateway hung up mid-stream (its client went away): expected, not an error.
        _hung_up(state, request)
    return response


async def _json_or_stream(
    request: web.Request,
    call: _Call,
    reply: Callable[[], Any],
    stream: Callable[[], tuple[list[bytes], bytes, bytes]],
) -> web.StreamResponse:
    """The scripted answer as one JSON `reply()`, or as the SSE `stream()` when asked to."""
    if not call.body.get("stream"):
        return _json(reply(), 200, call.headers)
    return await _write_events(request, request.app[STATE], call.script, call.headers, *stream())


async def completions(request: web.Request) -> web.StreamResponse:
    call = await _prelude(request, lambda b: mock_script.validate_input(b, "prompt"))
    if isinstance(call, web.Response):
        return call
    args = (call.body, call.script, f"cmpl-mock{call.n:08d}", int(time.time()))
    return await _json_or_stream(
        request,
        call,
        lambda: mock_script.completions_body(*args),
        lambda: _data_stream(mock_script.completions_chunks(*args)),
    )


async def embeddings(request: web.Request) -> web.StreamResponse:
    call = await _prelude(request, lambda b: mock_script.validate_input(b, "input"))
    if isinstance(call, web.Response):
        return call
    return _json(mock_script.embeddings_body(call.body, call.script), 200, call.headers)


async def responses(request: web.Request) -> web.StreamResponse:
    call = await _prelude(request, lambda b: mock_script.validate_input(b, "input"))
    if isinstance(call, web.Response):
        return call
    args = (call.body, call.script, f"resp_mock{call.n:08d}", int(time.time()))

    def stream() -> tuple[list[bytes], bytes, bytes]:
        events = [_named(e["type"], e) for e in mock_script.responses_events(*args)]
        error = {"type": "error", "code": "server_error", "message": "mock error"}
        return events, _named("error", error), b""

    return await _json_or_stream(request, call, lambda: mock_script.responses_body(*args), stream)


async def messages(request: web.Request) -> web.StreamResponse:
    call = await _prelude(
        request, mock_script.validate_request, mock_script.anthropic_error_body, {}
    )
    if isinstance(call, web.Response):
        return call
    body, script = call.body, call.script
    message_id = f"msg_mock{call.n:08d}"
    if not body.get("stream"):
        return _json(mock_script.messages_body(body, script, message_id), 200, call.headers)
    events = [
        _named(name, data) for name, data in mock_script.messages_events(body, script, message_id)
    ]
    error = _named("error", mock_script.anthropic_error_body(529, "mock error_in_stream"))
    return await _write_events(
        request, request.app[STATE], script, call.headers, events, error, b""
    )


async def list_models(request: web.Request) -> web.Response:
    await _record(request)
    return _json(mock_script.models_body(request.app[STATE].models))


async def not_found(request: web.Request) -> web.Response:
    await _record(request)
    return _json(mock_script.error_body(404, f"no route {request.method} {request.path}"), 404)


async def get_requests(request: web.Request) -> web.Response:
    return _json(list(request.app[STATE].requests))


async def force_next(request: web.Request) -> web.Response:
    """`{"status": 429, "delay_ms": 0, "times": 1}`: script the next `times` requests."""
    spec = await request.json()
    override = {k: int(spec[k]) for k in ("status", "delay_ms") if k in spec}
    for _ in range(int(spec.get("times", 1))):
        request.app[STATE].forced.append(override)
    return _json({"queued": len(request.app[STATE].forced)})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[STATE].requests.clear()
    return _json({"cleared": True})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _on_shutdown(app: web.Application) -> None:
    app[STATE].closing.set()


def create_app(models: tuple[str, ...] = mock_script.DEFAULT_MODELS) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = MockState(models=models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/messages", messages)
    azure = "/openai/deployments/{deployment}"
    app.router.add_post(azure + "/chat/completions", chat_completions)
    app.router.add_post(azure + "/completions", completions)
    app.router.add_post(azure + "/embeddings", embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/_mock/requests", get_requests)
    app.router.add_delete("/_mock/requests", clear_requests)
    app.router.add_post("/_mock/next", force_next)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.on_shutdown.append(_on_shutdown)
    return app


async def start_mock_provider(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    models: tuple[str, ...] = mock_script.DEFAULT_MODELS,
) -> tuple[web.AppRunner, int]:
    """Serve the mock in this event loop; `await runner.cleanup()` stops it."""
    # No access log: the mock is also the bench upstream and must stay cheap.
    runner = web.AppRunner(create_app(models), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only through the server's sockets
    assert server is not None
    bound_port = server.sockets[0].getsockname()[1]
    return runner, bound_port


async def _serve(host: str, port: int) -> None:
    runner, bound = await start_mock_provider(host, port)
    line = f"mock provider listening on http://{host}:{bound}"
    # Both streams: stdout for scripts that read it, stderr like the planes' own line.
    print(line, flush=True)
    print(line, file=sys.stderr, flush=True)
    try:
        await until_stop_signal()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mock OpenAI-compatible provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        import uvloop  # optional: faster under bench load

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
