"""Key-encryption key rotation under load-bearing secrets (DESIGN invariant 3): after
`oggy secrets rotate-kek` (the CLI) and the RotateKeyEncryptionKey RPC, every provider
credential and HS256 signing secret still works — on the running data plane, after a
control plane restart, and on a data plane that starts afterwards and so gets every secret
decrypted under the new KEK. Runs on a stack of its own (it restarts the control plane,
once cleanly and once after SIGKILL)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlplane import keyring
from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import provider_pb2
from tests.e2e.conftest import Stack, register_tenant, state_dir_secrets
from tests.e2e.identity.conftest import (
    AdminRecord,
    RecordingAdmin,
    SigningKeys,
    chat_once,
    create_actor,
    mint,
    register_signing_keys,
    wait_outcome,
)
from tests.support.oggy_clients import Tenant, create_tenant, http_request, wait_key_accepted
from tests.support.processes import REPO, DataPlane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

SECOND_MODEL = "claude-kek-1"


@dataclass
class KekWorld:
    stack: Stack
    admin: RecordingAdmin
    tenant: Tenant
    # model → the provider api key it must reach the provider with
    provider_keys: dict[str, str] = field(repr=False)
    signing: SigningKeys
    alice: str
    cli_dir: Path


@pytest.fixture(scope="module")
def world(
    stack_factory: Callable[[str], Stack],
    admin_record: AdminRecord,
    secret_registry: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KekWorld]:
    stack = stack_factory("kek")
    admin = RecordingAdmin(stack.admin, admin_record)
    tenant = register_tenant(
        secret_registry,
        create_tenant(admin, stack.mock.url, stack.dp.url, prefix="id-kek"),  # type: ignore[arg-type]
    )
    second_key = f"sk-mock-second-{secrets.token_urlsafe(18)}"
    secret_registry[f"{tenant.workspace} second provider api key"] = second_key
    admin.CreateProviderCredential(
        admin_pb.CreateProviderCredentialRequest(
            parent=tenant.workspace,
            provider_id="second",
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                base_url=f"{stack.mock.url}/v1",
                models=["claude-*"],
                api_key=second_key,
                allow_private_network=True,
            ),
        )
    )
    signing = register_signing_keys(admin, tenant.workspace, secret_registry)
    alice = create_actor(admin, tenant.workspace, "alice")
    world = KekWorld(
        stack,
        admin,
        tenant,
        {"gpt-4o-mini": tenant.provider_api_key, SECOND_MODEL: second_key},
        signing,
        alice,
        tmp_path_factory.mktemp("kek-cli"),
    )
    # The actor came after the key: wait for it too (config arrives in revision order).
    token = mint(signing.hs, signing.hs_kid, tenant.workspace, alice)
    wait_outcome(
        lambda: chat_once(stack.dp.url, tenant.key_text, actor=token),
        lambda o: o.status == 200,
        "the actor and signing keys on the data plane",
    )
    yield world
    stack.stop()


def assert_every_secret_works(world: KekWorld, dp: DataPlane, when: str) -> None:
    """Each model reaches the mock with its own provider key; an HS256 actor token (whose
    secret is envelope-encrypted too) verifies."""
    token = mint(
        world.signing.hs, world.signing.hs_kid, world.tenant.workspace, world.alice, app="kek"
    )
    for model, api_key in world.provider_keys.items():
        marker = f"kek-{secrets.token_hex(6)}"
        outcome = chat_once(dp.url, world.tenant.key_text, model=model, text=marker, actor=token)
        assert outcome.status == 200, f"{when}: {model} through {dp.node_id}: {outcome}"
        seen = [
            r
            for r in http_request("GET", f"{world.stack.mock.url}/_mock/requests").json()
            if marker in json.dumps(r)
        ]
        assert len(seen) == 1, f"{when}: the mock saw {len(seen)} requests for {model}"
        assert seen[0]["headers"]["authorization"] == f"Bearer {api_key}", (
            f"{when}: {model} reached the provider with the wrong credential"
        )


def primary_kek_id(state_dir: Path) -> str:
    path = state_dir / "kek"
    return keyring.loads(path.read_text(encoding="utf-8"), str(path)).primary.kek_id


def register_keks(world: KekWorld, secret_registry: dict[str, str], label: str) -> None:
    for name, value in state_dir_secrets(world.stack.cp.state_dir).items():
        secret_registry[f"kek stack {label} {name}"] = value


def rotate_with_cli(world: KekWorld) -> dict:
    stack = world.stack
    env = {k: v for k, v in os.environ.items() if not k.startswith("OGGY_")}
    env["OGGY_ADMIN_TOKEN"] = stack.cp.admin_token  # not a flag: flags show up in `ps`
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane.cli.main",
            "secrets",
            "rotate-kek",
            "--admin-address",
            stack.cp.address,
            "--state-dir",
            str(world.cli_dir),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    world.admin.record.entries.append(("cli secrets rotate-kek", done.stdout + done.stderr))
    assert done.returncode == 0, f"rotate-kek failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def test_kek_rotation_keeps_every_secret_working_across_a_restart(
    world: KekWorld, secret_registry: dict[str, str]
) -> None:
    stack = world.stack
    assert_every_secret_works(world, stack.dp, "before rotation")
    first_kek = primary_kek_id(stack.cp.state_dir)

    rotated = rotate_with_cli(world)
    register_keks(world, secret_registry, "after cli rotation")
    assert rotated["kek_id"] != first_kek
    assert primary_kek_id(stack.cp.state_dir) == rotated["kek_id"]
    # Two provider keys and one HMAC secret were re-wrapped.
    assert int(rotated["rewrapped"]) >= 3, rotated
    assert_every_secret_works(world, stack.dp, "after cli rotation")

    stack.cp.child.stop()  # a clean shutdown (SIGTERM)
    stack.restart_control_plane()
    credential = world.admin.GetProviderCredential(
        admin_pb.GetProviderCredentialRequest(name=world.tenant.provider)
    ).provider_credential
    assert credential.api_key_hint == world.tenant.provider_api_key[-4:]
    fresh = stack.start_dataplane("kek-after-restart")
    wait_key_accepted(fresh.url, world.tenant.key_text)
    assert_every_secret_works(world, fresh, "new data plane after restart")
    assert_every_secret_works(world, stack.dp, "old data plane after restart")

    again = world.admin.RotateKeyEncryptionKey(admin_pb.RotateKeyEncryptionKeyRequest())
    register_keks(world, secret_registry, "after rpc rotation")
    assert again.kek_id not in ("", rotated["kek_id"], first_kek)
    assert again.rewrapped >= 3
    # A credential written after the rotations, under the newest KEK, works as well.
    third_key = f"sk-mock-third-{secrets.token_urlsafe(18)}"
    secret_registry[f"{world.tenant.workspace} third provider api key"] = third_key
    world.admin.CreateProviderCredential(
        admin_pb.CreateProviderCredentialRequest(
            parent=world.tenant.workspace,
            provider_id="third",
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                base_url=f"{stack.mock.url}/v1",
                models=["mistral-*"],
                api_key=third_key,
                allow_private_network=True,
            ),
        )
    )
    world.provider_keys["mistral-kek"] = third_key
    stack.cp.child.kill()  # this time a crash: nothing gets to flush or close cleanly
    stack.restart_control_plane()
    last = stack.start_dataplane("kek-after-second-restart")
    wait_key_accepted(last.url, world.tenant.key_text)
    assert_every_secret_works(world, last, "new data plane after rpc rotation and restart")
