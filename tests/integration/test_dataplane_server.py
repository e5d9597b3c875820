"""The data plane process wiring: config stream → readiness, usage → control plane, stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from dataplane.server import create_dataplane
from dataplane.settings import Settings
from oggy.v1 import config_service_pb2, snapshot_pb2, workspace_pb2
from tests.integration.dataplane_fakes import (
    TOKEN,
    FakeConfigServicer,
    FakeStore,
    FakeUsageServicer,
    start_server,
)

REPO = Path(__file__).resolve().parents[2]


def snapshot(revision: int, *workspaces: str) -> config_service_pb2.StreamConfigResponse:
    return config_service_pb2.StreamConfigResponse(
        nonce=f"n{revision}",
        snapshot=snapshot_pb2.Snapshot(
            revision=revision, workspaces=[workspace_pb2.Workspace(name=w) for w in workspaces]
        ),
    )


async def test_in_process_dataplane_gets_ready_reports_usage_and_stops(tmp_path) -> None:
    config, store = FakeConfigServicer(), FakeStore()
    usage = FakeUsageServicer(store)
    server, cp_port = await start_server(config=config, usage=usage)
    settings = Settings(
        control_plane=f"127.0.0.1:{cp_port}",
        http_port=0,
        node_token=TOKEN,
        spool_dir=tmp_path / "spool",
        shutdown_grace_s=2,
    )
    dp = await create_dataplane(settings)
    try:
        assert dp.port != 0
        async with aiohttp.ClientSession(dp.url) as http:
            async with http.get("/readyz") as r:
                assert r.status == 503
            await config.hellos.get()
            config.outbox.put_nowait(snapshot(3, "workspaces/w1"))
            assert (await config.answers.get()).error_detail == ""
            async with http.get("/readyz") as r:
                assert r.status == 200
                assert (await r.json())["revision"] == 3

            # The real compile_snapshot rejects this; the old config keeps serving.
            config.outbox.put_nowait(snapshot(4, "not-a-workspace-name"))
            assert (await config.answers.get()).error_detail
            async with http.get("/readyz") as r:
                assert (await r.json())["revision"] == 3

            async with http.get("/v1/models") as r:
                assert r.status == 401
        await asyncio.wait_for(dp.reporter.wait_idle(), 10)
        # The gateway endpoint records every request, rejected ones included.
        assert [e.http_status for e in store.events.values()] == [401]
    finally:
        await dp.stop()
        await server.stop(0)


async def test_python_m_dataplane_prints_address_serves_and_stops_on_sigterm(tmp_path) -> None:
    config, store = FakeConfigServicer(), FakeStore()
    server, cp_port = await start_server(config=config, usage=FakeUsageServicer(store))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dataplane",
        "--control-plane",
        f"127.0.0.1:{cp_port}",
        "--http",
        "127.0.0.1:0",
        "--spool-dir",
        str(tmp_path / "spool"),
        "--snapshot-file",
        str(tmp_path / "snapshot.bin"),
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "OGGY_NODE_TOKEN": TOKEN, "PYTHONPATH": str(REPO)},
    )
    assert proc.stderr is not None
    stderr = b""
    try:
        url = None
        while url is None:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, "data plane exited before listening"
            stderr += line
            if m := re.search(rb"dataplane listening on (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1).decode()
        await config.hellos.get()
        config.outbox.put_nowait(snapshot(7, "workspaces/w1"))
        await config.answers.get()
        async with aiohttp.ClientSession(url) as http:
            async with http.get("/readyz") as r:
                assert r.status == 200
            async with http.get("/v1/models") as r:
                assert r.status == 401
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
        stderr += rest
        assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.stop(0)
    # The /v1/models request's usage reached the control plane during the graceful stop.
    assert len(store.events) == 1
    assert TOKEN.encode() not in stderr
    assert (tmp_path / "snapshot.bin").exists()
