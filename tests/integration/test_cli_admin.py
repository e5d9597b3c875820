"""The `oggy` admin commands against an in-process AdminService (real gRPC on loopback)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.cli import demo, main
from controlplane.cli.admin_client import AdminClient
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import usage_pb2
from tests.integration.cli_fake_admin import TOKEN, FakeAdmin, serve_fake_admin


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[FakeAdmin, dict[str, str]]]:
    with serve_fake_admin() as (admin, address):
        env = {"OGGY_ADMIN_ADDRESS": address, "OGGY_ADMIN_TOKEN": TOKEN}
        yield admin, env


def oggy(env: dict[str, str], *argv: str, state_dir: Path | None = None) -> int:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    return main.run([*argv, *extra], env=env)


def test_workspace_create_and_list_all_pages(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = fake
    assert oggy(env, "workspace", "create", "demo", "--display-name", "Demo") == 0
    assert oggy(env, "workspace", "create", "workspaces/team") == 0
    capsys.readouterr()
    assert oggy(env, "workspace", "list", "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [w["name"] for w in listed] == ["workspaces/demo", "workspaces/team"]
    assert listed[0]["display_name"] == "Demo"
    assert oggy(env, "workspace", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "DISPLAY", "NAME", "CREATED"]
    assert table[1].split()[:2] == ["demo", "workspaces/demo"]


def test_grpc_errors_are_one_line_and_nonzero(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = fake
    assert oggy(env, "key", "revoke", "k1", "-w", "demo") == 1
    err = capsys.readouterr().err
    assert err == "error: NOT_FOUND: workspaces/demo/keys/k1 not found\n"


def test_wrong_token_is_unauthenticated(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = fake
    assert oggy({**env, "OGGY_ADMIN_TOKEN": "wrong"}, "workspace", "list") == 1
    assert capsys.readouterr().err.startswith("error: UNAUTHENTICATED: ")


def test_unreachable_control_plane_hints_at_oggy_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"OGGY_ADMIN_ADDRESS": "127.0.0.1:1", "OGGY_ADMIN_TOKEN": "t"}
    assert oggy(env, "workspace", "list", state_dir=tmp_path) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: UNAVAILABLE: ") and "oggy up" in err
    assert err.count("\n") == 1


def test_missing_workspace_is_a_usage_error(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, env = fake
    assert oggy(env, "key", "list", state_dir=tmp_path) == 2
    assert "no workspace" in capsys.readouterr().err


def test_key_create_shows_text_once_and_revoke_by_prefix(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    oggy(env, "workspace", "create", "demo")
    env = {**env, "OGGY_WORKSPACE": "demo"}
    capsys.readouterr()
    assert oggy(env, "key", "create", "--id", "kone", "--display-name", "ci") == 0
    captured = capsys.readouterr()
    assert f"oggy_live_kone_{'S' * 43}" in captured.out
    assert "shown once" in captured.err
    assert oggy(env, "key", "create", "--format", "json") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key_text"].startswith("oggy_live_")
    assert created["gateway_key"]["state"] == "STATE_ACTIVE"
    assert oggy(env, "key", "revoke", "oggy_live_kone") == 0
    assert "revoked" in capsys.readouterr().out
    assert admin.requests[-1] == ("RevokeGatewayKey", pb.RevokeGatewayKeyRequest(
        name="workspaces/demo/keys/kone"
    ))  # fmt: skip


def test_provider_add_reads_key_from_env_and_never_prints_it(
    fake: tuple[FakeAdmin, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, env = fake
    oggy(env, "workspace", "create", "demo")
    env = {**env, "OGGY_WORKSPACE": "demo", "MY_KEY": "sk-supersecret-1234"}
    argv = ["provider", "add", "openai", "--kind", "openai", "--models", "gpt-4o*", "o3*"]
    assert oggy(env, *argv, "--api-key-env", "MY_KEY") == 0
    out = capsys.readouterr().out
    assert "supersecret" not in out and "...1234" in out
    method, request = admin.requests[-1]
    assert method == "CreateProviderCredential"
    assert request.parent == "workspaces/demo" and request.provider_id == "openai"
    assert request.provider_credential.api_key == "sk-supersecret-1234"
    assert request.provider_credential.base_url == "https://api.openai.com/v1"
    assert list(request.provider_credential.models) == ["gpt-4o*", "o3*"]


def test_provider_add_reads_key_from_stdin(
    fake: tuple[FakeAdmin, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, env = fake
    oggy(env, "workspace", "create", "demo")
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-from-stdin\n"))
    argv = ["provider", "add", "local", "--kind", "openai-compatible", "-w", "demo"]
    assert oggy(env, *argv, "--base-url", "http://127.0.0.1:9/v1", "--models", "llama*") == 0
    assert admin.requests[-1][1].provider_credential.api_key == "sk-from-stdin"
    capsys.readouterr()
    assert oggy(env, "provider", "add", "x", "--kind", "openai-compatible", "--models", "m",
                "-w", "demo", "--api-key-env", "NOPE") == 2  # fmt: skip
    assert "--base-url is required" in capsys.readouterr().err


def test_usage_list_json_array_with_limit_across_pages(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.events = [
        usage_pb2.UsageEvent(event_id=f"e{i}", model="gpt-4o", total_tokens=i) for i in range(7)
    ]
    argv = ["usage", "list", "-w", "demo", "--format", "json", "--limit", "5", "--model", "gpt-4o"]
    assert oggy(env, *argv, "--since", "1h") == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["event_id"] for e in events] == ["e0", "e1", "e2", "e3", "e4"]
    first = admin.requests[-1][1]
    assert first.filter.workspace == "workspaces/demo"
    assert first.filter.model == "gpt-4o"
    assert first.filter.HasField("start_time")


def test_usage_summary_table_and_json(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    admin.rows = [
        usage_pb2.UsageSummaryRow(
            group=["gpt-4o", "workspaces/demo/keys/kone"], requests=3, total_tokens=42
        )
    ]
    assert oggy(env, "usage", "summary", "-w", "demo", "--by", "model", "--by", "key") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "KEY", "REQUESTS"]
    assert lines[1].split()[:3] == ["gpt-4o", "kone", "3"]
    assert list(admin.requests[-1][1].group_by) == [
        usage_pb2.USAGE_GROUP_BY_MODEL,
        usage_pb2.USAGE_GROUP_BY_KEY,
    ]
    assert oggy(env, "usage", "summary", "-w", "demo", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["requests"] == "3" and rows[0]["group"] == [
        "gpt-4o",
        "workspaces/demo/keys/kone",
    ]


def test_demo_setup_is_idempotent(fake: tuple[FakeAdmin, dict[str, str]]) -> None:
    admin, env = fake
    with AdminClient(env["OGGY_ADMIN_ADDRESS"], TOKEN) as client:
        first = demo.ensure_demo(client, "http://127.0.0.1:1111/v1", "")
        assert first.workspace == "workspaces/demo"
        provider_before = admin.providers[demo.PROVIDER]
        again = demo.ensure_demo(client, "http://127.0.0.1:1111/v1", first.key_text)
        assert again.key_text == first.key_text
        assert admin.providers[demo.PROVIDER] is provider_before  # untouched
        # The mock moved: the provider is recreated with the new base URL.
        moved = demo.ensure_demo(client, "http://127.0.0.1:2222/v1", first.key_text)
        assert admin.providers[demo.PROVIDER].base_url == "http://127.0.0.1:2222/v1"
        assert moved.key_text == first.key_text
        # The stored key was revoked: a new one is made.
        admin.keys[next(iter(admin.keys))].state = 2
        fresh = demo.ensure_demo(client, "http://127.0.0.1:2222/v1", first.key_text)
        assert fresh.key_text != first.key_text
        # Garbage in endpoints.json: a new key, no crash.
        assert demo.ensure_demo(client, "http://127.0.0.1:2222/v1", "garbage").key_text
    assert len(admin.workspaces) == 1
