"""The client has its final answer only once the usage sink says the event is journaled."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from controlplane.devtools.mock_provider import start_mock_provider
from dataplane.config.holder import ConfigHolder
from dataplane.http import create_app
from oggy.contract.compile import compile_snapshot
from oggy.v1 import usage_pb2
from tests.integration.test_dataplane_http import KEY, OPTIONS, build_snapshot, serve


class GatedSink:
    """A sink whose journal writes complete only when the test opens the gate."""

    def __init__(self) -> None:
        self.events: list[usage_pb2.UsageEvent] = []
        self.gate: asyncio.Future[None] | None = None

    def emit(self, event: usage_pb2.UsageEvent) -> asyncio.Future[None]:
        self.events.append(event)
        self.gate = asyncio.get_running_loop().create_future()
        return self.gate

    def note(self, event: usage_pb2.UsageEvent) -> None:
        return None

    def queue_depth(self) -> int:
        return 0


@pytest.mark.parametrize("stream", [False, True])
async def test_the_answer_waits_for_the_journal(stream: bool) -> None:
    mock, mock_port = await start_mock_provider()
    sink = GatedSink()
    upstream = f"http://127.0.0.1:{mock_port}"
    runner, base = await serve(
        create_app(ConfigHolder(compile_snapshot(build_snapshot(upstream))), sink, OPTIONS)
    )
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi mock:words=3"}]}
    if stream:
        body["stream"] = True
    try:
        async with aiohttp.ClientSession() as http:

            async def call() -> bytes:
                async with http.post(
                    f"{base}/v1/chat/completions",
                    data=orjson.dumps(body),
                    headers={"Authorization": f"Bearer {KEY}"},
                ) as resp:
                    assert resp.status == 200
                    return await resp.read()

            answer = asyncio.create_task(call())
            for _ in range(200):
                if sink.gate is not None:
                    break
                await asyncio.sleep(0.01)
            assert sink.gate is not None, "no usage event was emitted"
            await asyncio.sleep(0.2)
            assert not answer.done(), "answered before the event was journaled"
            sink.gate.set_result(None)
            text = await asyncio.wait_for(answer, 5)
            assert (b"[DONE]" in text) if stream else (b'"choices"' in text)
            assert len(sink.events) == 1
    finally:
        await runner.cleanup()
        await mock.cleanup()
