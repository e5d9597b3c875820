"""Upstream timeouts come from aiohttp's sock_read: first byte, then gaps between chunks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from yarl import URL

from dataplane.http.upstream import Upstream
from oggy.contract import errors
from oggy.contract.timeouts import UpstreamTimeouts

HEADERS_AFTER_S = 0.4


async def slow_headers(_: web.Request) -> web.Response:
    await asyncio.sleep(HEADERS_AFTER_S)
    return web.Response(body=b"{}", content_type="application/json")


async def stall(request: web.Request) -> web.StreamResponse:
    out = web.StreamResponse()
    out.content_type = "text/event-stream"
    await out.prepare(request)
    await out.write(b"data: 1\n\n")
    await asyncio.sleep(5)
    return out


@pytest.fixture
async def origin() -> AsyncIterator[URL]:
    app = web.Application()
    app.router.add_post("/slow", slow_headers)
    app.router.add_post("/stall", stall)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield URL(f"http://127.0.0.1:{runner.addresses[0][1]}")
    await runner.cleanup()


async def started(first_byte_s: float, idle_s: float) -> Upstream:
    up = Upstream(connect_timeout_s=2.0, first_byte_timeout_s=first_byte_s, idle_timeout_s=idle_s)
    await up.start()
    return up


@pytest.mark.parametrize(("first_byte_s", "idle_s"), [(0.1, 0.1), (0.1, 5.0)])
async def test_no_headers_in_time_is_a_timeout(
    origin: URL, first_byte_s: float, idle_s: float
) -> None:
    up = await started(first_byte_s, idle_s)
    try:
        with pytest.raises(errors.UpstreamTimeout):
            await up.open(origin / "slow", {}, b"{}")
    finally:
        await up.close()


async def test_first_byte_longer_than_idle_waits_for_headers(origin: URL) -> None:
    up = await started(first_byte_s=5.0, idle_s=0.1)  # headers come after 0.4 s
    try:
        resp = await up.open(origin / "slow", {}, b"{}")
        assert await resp.read() == b"{}"
        resp.release()
    finally:
        await up.close()


@pytest.mark.parametrize(("first_byte_s", "idle_s"), [(0.2, 0.2), (5.0, 0.2)])
async def test_a_stalled_body_times_out_after_the_idle_gap(
    origin: URL, first_byte_s: float, idle_s: float
) -> None:
    up = await started(first_byte_s, idle_s)
    try:
        resp = await up.open(origin / "stall", {}, b"{}")
        assert await resp.content.readany() == b"data: 1\n\n"
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TimeoutError):
            await resp.content.readany()
        assert loop.time() - began < 2.0  # the idle bound, not the first-byte one
        resp.close()
    finally:
        await up.close()


async def test_a_providers_timeouts_beat_the_defaults(origin: URL) -> None:
    up = await started(first_byte_s=5.0, idle_s=5.0)
    try:
        with pytest.raises(errors.UpstreamTimeout):  # headers come after 0.4 s
            await up.open(origin / "slow", {}, b"{}", timeouts=UpstreamTimeouts(first_byte_s=0.1))
        resp = await up.open(origin / "stall", {}, b"{}", timeouts=UpstreamTimeouts(idle_s=0.2))
        assert await resp.content.readany() == b"data: 1\n\n"
        began = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await resp.content.readany()
        assert asyncio.get_running_loop().time() - began < 2.0
        resp.close()
        # Without its own timeouts a provider waits with the defaults.
        resp = await up.open(origin / "slow", {}, b"{}")
        assert await resp.read() == b"{}"
        resp.release()
    finally:
        await up.close()
