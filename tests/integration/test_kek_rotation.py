"""KEK rotation and the wrong-KEK start-up check, on a real etcd and control plane."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from controlplane.cli.main import run as cli_run
from controlplane.kek_check import KekMismatch, canary_key
from controlplane.secrets import EnvelopeCipher, Kek, blob_kek_id
from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings
from controlplane.store.etcd import EtcdStore
from dataplane.config.client import ConfigStreamClient
from dataplane.settings import Settings as DataPlaneSettings
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from oggy.v1 import provider_pb2, snapshot_pb2
from oggy.v1 import workspace_pb2 as ws_pb
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

KEYS = {"openai": "sk-rotate-first-0123456789", "azure": "sk-rotate-second-987654321"}


@dataclass
class Env:
    settings: Settings
    cp: ControlPlaneServer
    port: int
    stub: admin_grpc.AdminServiceStub
    channel: grpc.aio.Channel
    store: EtcdStore

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.cp.admin_token}"),)

    def secret_key(self, provider_id: str) -> str:
        return f"{self.settings.etcd_prefix}secrets/workspaces/acme/providers/{provider_id}"


def cp_settings(etcd: str, state_dir: Path, prefix: str, **kw) -> Settings:
    settings = Settings.from_flags(
        state_dir=state_dir, etcd=etcd, grpc="127.0.0.1:0", etcd_prefix=prefix, environ={}, **kw
    )
    # The settle pause of a rotation is the etcd call timeout: short on loopback.
    return dataclasses.replace(settings, etcd_timeout_s=1.0)


@pytest.fixture
async def env(etcd_endpoint: str, tmp_path: Path) -> AsyncIterator[Env]:
    settings = cp_settings(etcd_endpoint, tmp_path / "state", unique_prefix())
    cp, port = await create_server(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    store = EtcdStore(etcd_endpoint)
    try:
        yield Env(settings, cp, port, admin_grpc.AdminServiceStub(channel), channel, store)
    finally:
        await channel.close()
        await store.close()
        await cp.stop(None)


async def add_provider(e: Env, provider_id: str) -> None:
    await e.stub.CreateProviderCredential(
        pb.CreateProviderCredentialRequest(
            parent="workspaces/acme",
            provider_id=provider_id,
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                base_url=f"https://{provider_id}.example.com/v1",
                models=[f"{provider_id}-*"],
                api_key=KEYS[provider_id],
            ),
        ),
        metadata=e.md,
    )


async def seed(e: Env) -> None:
    await e.stub.CreateWorkspace(
        pb.CreateWorkspaceRequest(workspace_id="acme", workspace=ws_pb.Workspace()), metadata=e.md
    )
    await add_provider(e, "openai")


class Holder:
    def __init__(self) -> None:
        self.snapshot: snapshot_pb2.Snapshot | None = None
        self.changed = asyncio.Event()

    def apply(self, cfg: snapshot_pb2.Snapshot) -> None:
        self.snapshot = cfg
        self.changed.set()

    def api_keys(self) -> dict[str, str]:
        assert self.snapshot is not None
        return {p.provider.name.rsplit("/", 1)[1]: p.api_key for p in self.snapshot.providers}

    async def wait_for_providers(self, n: int) -> dict[str, str]:
        while self.snapshot is None or len(self.snapshot.providers) < n:
            self.changed.clear()
            await self.changed.wait()
        return self.api_keys()


def data_part(blob: bytes) -> bytes:
    pos = 5 + blob[4] + 12
    return blob[pos + 2 + int.from_bytes(blob[pos : pos + 2], "big") :]


def keyring_ids(state_dir: Path) -> list[str]:
    doc = json.loads((state_dir / "kek").read_text())
    assert (state_dir / "kek").stat().st_mode & 0o777 == 0o600
    return [k["id"] for k in doc["keys"]]


async def test_rotation_rewraps_secrets_without_disturbing_data_planes(
    env: Env, tmp_path: Path
) -> None:
    await seed(env)
    old_id = keyring_ids(env.settings.state_dir)[0]
    before = (await env.store.get(env.secret_key("openai"))).value
    assert blob_kek_id(before) == old_id

    holder = Holder()
    dp = DataPlaneSettings(
        control_plane=f"127.0.0.1:{env.port}",
        node_token=env.cp.node_token,
        node_id="dp-kek",
        spool_dir=tmp_path / "spool",
    )
    client = ConfigStreamClient(dp, holder, lambda s: s)
    await client.start()
    try:
        assert await asyncio.wait_for(holder.wait_for_providers(1), 20) == {
            "openai": KEYS["openai"]
        }
        revision = holder.snapshot.revision

        response = await env.stub.RotateKeyEncryptionKey(
            pb.RotateKeyEncryptionKeyRequest(), metadata=env.md, timeout=60
        )
        assert response.rewrapped == 1 and response.kek_id != old_id
        after = (await env.store.get(env.secret_key("openai"))).value
        assert blob_kek_id(after) == response.kek_id
        assert data_part(after) == data_part(before)  # only the wrapped data key changed
        assert keyring_ids(env.settings.state_dir) == [response.kek_id]
        canary = (await env.store.get(canary_key(env.settings.etcd_prefix))).value
        assert blob_kek_id(canary) == response.kek_id
        # Data planes saw nothing: secrets live outside the watched tree.
        assert holder.snapshot.revision == revision and client.connected

        # A provider added after the rotation is encrypted under (and published with)
        # the new KEK.
        await add_provider(env, "azure")
        assert await asyncio.wait_for(holder.wait_for_providers(2), 20) == KEYS
        azure = (await env.store.get(env.secret_key("azure"))).value
        assert blob_kek_id(azure) == response.kek_id
    finally:
        await client.stop()

    # The rotated keyring alone decrypts everything; the old KEK is gone.
    ring_text = (env.settings.state_dir / "kek").read_text()
    assert KEYS["openai"] not in ring_text


async def test_a_restart_after_rotation_serves_the_same_secrets(
    env: Env, etcd_endpoint: str
) -> None:
    await seed(env)
    await env.stub.RotateKeyEncryptionKey(pb.RotateKeyEncryptionKeyRequest(), metadata=env.md)
    await env.cp.stop(None)
    cp2, _ = await create_server(env.settings)
    try:
        blob = (await env.store.get(env.secret_key("openai"))).value
        kek = Kek.from_base64(
            json.loads((env.settings.state_dir / "kek").read_text())["keys"][0]["key"]
        )
        assert EnvelopeCipher(kek).decrypt(blob).decode() == KEYS["openai"]
    finally:
        await cp2.stop(None)


async def test_concurrent_rotations_run_one_at_a_time(env: Env) -> None:
    await seed(env)
    calls = [
        env.stub.RotateKeyEncryptionKey(pb.RotateKeyEncryptionKeyRequest(), metadata=env.md)
        for _ in range(2)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok = [r for r in results if isinstance(r, pb.RotateKeyEncryptionKeyResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 1 and len(refused) == 1
    assert refused[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert keyring_ids(env.settings.state_dir) == [ok[0].kek_id]


async def test_wrong_kek_fails_at_start(env: Env, etcd_endpoint: str, tmp_path: Path) -> None:
    await seed(env)
    expected = keyring_ids(env.settings.state_dir)[0]
    other = cp_settings(etcd_endpoint, tmp_path / "other", env.settings.etcd_prefix)
    with pytest.raises(KekMismatch) as info:
        await create_server(other)
    assert expected in str(info.value)
    wrong_ring = (tmp_path / "other" / "kek").read_text()
    assert json.loads(wrong_ring)["keys"][0]["key"] not in str(info.value)


async def test_wrong_kek_process_exits_non_zero_naming_the_kek_id(
    env: Env, etcd_endpoint: str, tmp_path: Path
) -> None:
    await seed(env)
    expected = keyring_ids(env.settings.state_dir)[0]
    wrong = Kek.generate()
    proc = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "controlplane.cli.main",
            "controlplane",
            f"--etcd={etcd_endpoint}",
            "--grpc=127.0.0.1:0",
            f"--etcd-prefix={env.settings.etcd_prefix}",
            f"--state-dir={tmp_path / 'other'}",
        ],
        env={**os.environ, "OGGY_KEK": wrong.to_base64()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert expected in proc.stderr and wrong.kek_id in proc.stderr
    assert wrong.to_base64() not in proc.stderr + proc.stdout
    assert "listening" not in proc.stderr


async def test_env_kek_rotation_is_refused(etcd_endpoint: str, tmp_path: Path) -> None:
    kek = Kek.generate()
    settings = dataclasses.replace(
        cp_settings(etcd_endpoint, tmp_path / "state", unique_prefix()), kek=kek.to_base64()
    )
    cp, port = await create_server(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            md = (("authorization", f"Bearer {cp.admin_token}"),)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await admin_grpc.AdminServiceStub(channel).RotateKeyEncryptionKey(
                    pb.RotateKeyEncryptionKeyRequest(), metadata=md
                )
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "OGGY_KEK" in info.value.details()
        assert kek.to_base64() not in info.value.details()
    finally:
        await cp.stop(None)


async def test_cli_rotate_kek(env: Env, tmp_path: Path, capsys) -> None:
    await seed(env)
    argv = [
        "secrets",
        "rotate-kek",
        "--admin-address",
        f"127.0.0.1:{env.port}",
        "--state-dir",
        str(tmp_path),
        "--format",
        "json",
    ]
    code = await asyncio.to_thread(cli_run, argv, {"OGGY_ADMIN_TOKEN": env.cp.admin_token})
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rewrapped"] == 1
    assert keyring_ids(env.settings.state_dir) == [out["kek_id"]]
