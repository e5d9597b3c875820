"""A small scripted OpenAI-compatible upstream for data-plane tests, in-process.

Scripted by magic words in the last user message (the data plane forwards no
custom client headers, so the body is the only channel that survives):
  fake:status=500        reply with that status and an OpenAI-style error body
  fake:hold_headers      wait for `release` before sending any header
  fake:words=N           reply with N words (default 5)
  fake:stall_after=N     stream N word chunks, then hang until `release`
  fake:pause_after=N     stream N word chunks, set `paused`, wait for `resume`, go on
  fake:hold_end          after the words, wait for `release` before finishing
  fake:split             write the SSE bytes in odd 7-byte pieces
  fake:error_in_stream   after one chunk, send an SSE error event and [DONE]
  fake:cached=N / fake:reasoning=N   add token details to usage
Usage is deterministic: prompt = words in all messages + 4 per message,
completion = reply words. Every request is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
_ARG = re.compile(r"fake:([a-z_]+)(?:=(\d+))?")


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeUpstream:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a streaming handler saw its client (the data plane) go away.
    upstream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    async def close(self) -> None:
        self.release.set()
        self.resume.set()
        if self._runner is not None:
            await self._runner.cleanup()


def reply_words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def _script(body: dict[str, Any]) -> dict[str, int]:
    text = ""
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            text = m["content"]
            break
    return {name: int(v) if v else 1 for name, v in _ARG.findall(text)}


def _usage(body: dict[str, Any], completion: int, script: dict[str, int]) -> dict[str, Any]:
    messages = body.get("messages") or []
    prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in messages)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if "cached" in script:
        usage["prompt_tokens_details"] = {"cached_tokens": script["cached"]}
    if "reasoning" in script:
        usage["completion_tokens_details"] = {"reasoning_tokens": script["reasoning"]}
    return usage


async def start_fake_upstream(host: str = "127.0.0.1") -> FakeUpstream:
    fake = FakeUpstream()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        fake.requests.append(Recorded(request.path, dict(request.headers), body))
        script = _script(body)
        if "hold_headers" in script:
            await fake.release.wait()
        n = len(fake.requests)
        headers = {
            "x-request-id": f"up-{n}",
            "openai-organization": "org-secret",
            "set-cookie": "session=abc",
            "x-ratelimit-remaining-requests": "99",
        }
        if script.get("status", 200) != 200:
            err = {"error": {"message": "scripted failure", "type": "fake_type", "code": None}}
            if script["status"] == 429:
                err["error"]["code"] = "rate_limit_exceeded"
            return web.Response(
                status=script["status"],
                body=orjson.dumps(err),
                headers=headers,
                content_type="application/json",
            )
        words = reply_words(script.get("words", 5))
        usage = _usage(body, len(words), script)
        model = body.get("model", "")
        if not body.get("stream"):
            completion = {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": " ".join(words)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return web.Response(
                body=orjson.dumps(completion), headers=headers, content_type="application/json"
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(payload: bytes) -> None:
            if "split" in script:
                for i in range(0, len(payload), 7):
                    await resp.write(payload[i : i + 7])
            else:
                await resp.write(payload)

        def event(obj: Any) -> bytes:
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        def chunk(i: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if include_usage:
                c["usage"] = None  # what OpenAI sends on every chunk when usage is on
            return c

        try:
            await send(event(chunk(0, {"role": "assistant", "content": ""}, None)))
            for i, w in enumerate(words):
                if i and i == script.get("stall_after"):
                    await fake.release.wait()
                    return resp
                if i and i == script.get("pause_after"):
                    fake.paused.set()
                    await fake.resume.wait()
                if i == 1 and "error_in_stream" in script:
                    await send(event({"error": {"message": "overloaded", "code": "overloaded"}}))
                    await send(b"data: [DONE]\n\n")
                    return resp
                await send(event(chunk(i, {"content": (" " if i else "") + w}, None)))
            if "hold_end" in script:
                await fake.release.wait()
            await send(event(chunk(len(words), {}, "stop")))
            if include_usage:
                await send(event({**chunk(0, {}, None), "choices": [], "usage": usage}))
            await send(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            fake.upstream_closed.set()
            raise
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake._runner = runner
    fake.url = f"http://{host}:{port}"
    return fake
