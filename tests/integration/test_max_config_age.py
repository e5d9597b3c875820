"""`--max-config-age`: a data plane that stops hearing from its control plane fails closed.

The control plane goes away (its gRPC server stops); past the maximum age every request
gets 503 `config_stale`, /readyz too, and /metrics shows the config's age. When a
control plane is back the data plane serves again, and the refused request's usage
event (attributed to its key) reaches the control plane.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from dataplane.server import create_dataplane
from dataplane.settings import Settings
from oggy.v1 import config_service_pb2
from tests.integration.dataplane_fakes import (
    TOKEN,
    FakeConfigServicer,
    FakeStore,
    FakeUsageServicer,
    start_server,
)
from tests.integration.test_dataplane_http import KEY, WS, build_snapshot

pytestmark = pytest.mark.timeout(60)
MAX_AGE_S = 0.5


def config_message(nonce: str) -> config_service_pb2.StreamConfigResponse:
    return config_service_pb2.StreamConfigResponse(
        nonce=nonce, snapshot=build_snapshot("http://127.0.0.1:9")
    )


async def serve_config(config: FakeConfigServicer, nonce: str) -> None:
    await asyncio.wait_for(config.hellos.get(), 20)
    config.outbox.put_nowait(config_message(nonce))
    assert (await asyncio.wait_for(config.answers.get(), 20)).error_detail == ""


async def test_a_data_plane_that_hears_nothing_fails_closed_and_recovers(tmp_path) -> None:
    config, store = FakeConfigServicer(), FakeStore()
    server, cp_port = await start_server(config=config, usage=FakeUsageServicer(store))
    settings = Settings(
        control_plane=f"127.0.0.1:{cp_port}",
        http_port=0,
        node_token=TOKEN,
        spool_dir=tmp_path / "spool",
        shutdown_grace_s=2,
        max_config_age_s=MAX_AGE_S,
        reconnect_backoff_max_s=0.2,
    )
    dp = await create_dataplane(settings)
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        async with aiohttp.ClientSession(dp.url) as http:
            await serve_config(config, "n1")
            async with http.get("/v1/models", headers=auth) as r:
                assert r.status == 200

            await server.stop(0)  # the control plane is gone
            await asyncio.sleep(MAX_AGE_S + 0.3)
            async with http.get("/v1/models", headers=auth) as r:
                assert r.status == 503
                error = (await r.json())["error"]
                assert error["code"] == "config_stale" and "control plane" in error["message"]
                stale_id = r.headers["x-request-id"]
            async with http.post(
                "/v1/messages", headers={**auth, "anthropic-version": "2023-06-01"}, data=b"{}"
            ) as r:
                assert r.status == 503
                body = await r.json()  # the caller's protocol: Anthropic's error shape
                assert body["type"] == "error" and "control plane" in body["error"]["message"]
            async with http.get("/readyz") as r:
                assert r.status == 503
            async with http.get("/metrics") as r:
                text = await r.text()
            [age] = [
                float(line.split()[1])
                for line in text.splitlines()
                if line.startswith("oggy_config_age_seconds ")
            ]
            assert age >= MAX_AGE_S

            # A control plane is back: the data plane hears it and serves again.
            config = FakeConfigServicer()
            server, _ = await start_server(
                config=config, usage=FakeUsageServicer(store), port=cp_port
            )
            await serve_config(config, "n2")
            async with http.get("/v1/models", headers=auth) as r:
                assert r.status == 200
            async with http.get("/metrics") as r:
                assert "oggy_config_age_seconds 0.0" in await r.text()
        await asyncio.wait_for(dp.reporter.wait_idle(), 20)
        [stale] = [e for e in store.events.values() if e.request_id == stale_id]
        assert (stale.http_status, stale.error_type) == (503, "config_stale")
        assert stale.workspace == WS and stale.key == f"{WS}/keys/kactive000000000"
    finally:
        await dp.stop()
        await server.stop(0)
