"""The `oggy` admin commands against the real AdminService, in-process on loopback."""

from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path

import pytest

from controlplane.cli import demo, main
from controlplane.cli.admin_client import AdminClient
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import key_pb2, usage_pb2
from tests.integration.cli_admin_server import (  # noqa: F401
    AdminServer,
    admin_fixture,
    demo_cli_fixture,
)
from tests.integration.cli_admin_server import usage_event as event

KEY_ID = "kone000000000001"
KEY_NAME = f"workspaces/demo/keys/{KEY_ID}"


def oggy(env: dict[str, str], *argv: str, state_dir: Path | None = None) -> int:
    extra = ["--state-dir", str(state_dir)] if state_dir else []
    return main.run([*argv, *extra], env=env)


def test_workspace_create_and_list_all_pages(
    admin: AdminServer, capsys: pytest.CaptureFixture[str]
) -> None:
    env = admin.env()
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

    # More workspaces than one page holds: the CLI follows next_page_token.
    for i in range(200):
        admin.client.stub.CreateWorkspace(pb.CreateWorkspaceRequest(workspace_id=f"w{i:03d}"))
    assert oggy(env, "workspace", "list", "--format", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 202
    pages = admin.calls("ListWorkspaces")[-2:]
    assert not pages[0].page_token and pages[1].page_token


def test_grpc_errors_are_one_line_and_nonzero(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = demo_cli
    assert oggy(env, "key", "revoke", "k1", "-w", "demo") == 1
    err = capsys.readouterr().err
    assert err == "error: NOT_FOUND: workspaces/demo/keys/k1 not found\n"


def test_wrong_token_is_unauthenticated(
    admin: AdminServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert oggy({**admin.env(), "OGGY_ADMIN_TOKEN": "wrong"}, "workspace", "list") == 1
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
    admin: AdminServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert oggy(admin.env(), "key", "list", state_dir=tmp_path) == 2
    assert "no workspace" in capsys.readouterr().err


def test_key_create_shows_text_once_and_revoke_by_prefix(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    capsys.readouterr()
    assert oggy(env, "key", "create", "--id", KEY_ID, "--display-name", "ci") == 0
    captured = capsys.readouterr()
    assert re.search(rf"^key: +oggy_live_{KEY_ID}_[A-Za-z0-9]{{43}}$", captured.out, re.M)
    assert "shown once" in captured.err
    assert oggy(env, "key", "create", "--format", "json") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["key_text"].startswith("oggy_live_")
    assert created["gateway_key"]["state"] == "STATE_ACTIVE"
    assert oggy(env, "key", "revoke", f"oggy_live_{KEY_ID}") == 0
    assert "revoked" in capsys.readouterr().out
    assert admin.last("RevokeGatewayKey") == pb.RevokeGatewayKeyRequest(name=KEY_NAME)
    stored = admin.client.stub.GetGatewayKey(pb.GetGatewayKeyRequest(name=KEY_NAME))
    assert stored.gateway_key.state == key_pb2.GatewayKey.STATE_REVOKED


def test_provider_add_reads_key_from_env_and_never_prints_it(
    demo_cli: tuple[AdminServer, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, env = demo_cli
    env = {**env, "MY_KEY": "sk-supersecret-1234"}
    argv = ["provider", "add", "openai", "--kind", "openai", "--models", "gpt-4o*", "o3*"]
    assert oggy(env, *argv, "--api-key-env", "MY_KEY") == 0
    out = capsys.readouterr().out
    assert "supersecret" not in out and "...1234" in out
    request = admin.last("CreateProviderCredential")
    assert request.parent == "workspaces/demo" and request.provider_id == "openai"
    assert request.provider_credential.api_key == "sk-supersecret-1234"
    assert request.provider_credential.base_url == "https://api.openai.com/v1"
    assert list(request.provider_credential.models) == ["gpt-4o*", "o3*"]


def test_provider_timeouts_are_set_on_add_and_merged_on_update(
    demo_cli: tuple[AdminServer, dict[str, str]],
) -> None:
    admin, env = demo_cli
    env = {**env, "MY_KEY": "sk-supersecret-1234"}
    argv = ["provider", "add", "slow", "--kind", "openai", "--models", "o1*", "--api-key-env"]
    assert oggy(env, *argv, "MY_KEY", "--first-byte-timeout", "300", "--idle-timeout", "30") == 0
    name = "workspaces/demo/providers/slow"

    def timeouts() -> dict[str, float]:
        stored = admin.client.stub.GetProviderCredential(
            pb.GetProviderCredentialRequest(name=name)
        ).provider_credential
        t = stored.timeouts
        return {f.name: v.ToNanoseconds() / 1e9 for f, v in t.ListFields()}

    assert timeouts() == {"first_byte": 300.0, "idle": 30.0}
    # Only what is given changes; 0 goes back to the data plane's default.
    assert oggy(env, "provider", "update", "slow", "--connect-timeout", "2.5",
                "--idle-timeout", "0") == 0  # fmt: skip
    assert timeouts() == {"connect": 2.5, "first_byte": 300.0}
    assert list(admin.last("UpdateProviderCredential").update_mask.paths) == ["timeouts"]


def test_provider_add_reads_key_from_stdin(
    demo_cli: tuple[AdminServer, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, env = demo_cli
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-from-stdin\n"))
    argv = ["provider", "add", "local", "--kind", "openai-compatible", "-w", "demo"]
    # A loopback model server: the control plane refuses it unless the flag opts in.
    local = ["--base-url", "http://127.0.0.1:9/v1", "--models", "llama*"]
    assert oggy(env, *argv, *local, "--allow-private-network") == 0
    assert admin.last("CreateProviderCredential").provider_credential.api_key == "sk-from-stdin"
    capsys.readouterr()
    assert oggy(env, "provider", "add", "x", "--kind", "openai-compatible", "--models", "m",
                "-w", "demo", "--api-key-env", "NOPE") == 2  # fmt: skip
    assert "--base-url is required" in capsys.readouterr().err


def test_usage_list_json_array_with_limit_across_pages(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    admin.insert_usage(
        [event(f"e{i}", age_s=60 + i, model="gpt-4o", total_tokens=i) for i in range(7)]
        + [event("old", age_s=7200, model="gpt-4o"), event("other", age_s=1, model="o3")]
    )
    argv = ["usage", "list", "-w", "demo", "--format", "json", "--limit", "5", "--model", "gpt-4o"]
    assert oggy(env, *argv, "--since", "1h") == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["event_id"] for e in events] == ["e0", "e1", "e2", "e3", "e4"]  # newest first
    first = admin.last("ListUsageEvents")
    assert first.filter.workspace == "workspaces/demo"
    assert first.filter.model == "gpt-4o"
    assert first.filter.HasField("start_time")


def test_usage_summary_table_and_json(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    admin.insert_usage(
        [event(f"e{i}", 60, model="gpt-4o", key=KEY_NAME, total_tokens=14) for i in range(3)]
    )
    assert oggy(env, "usage", "summary", "-w", "demo", "--by", "model", "--by", "key") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "KEY", "REQUESTS"]
    assert lines[1].split()[:3] == ["gpt-4o", KEY_ID, "3"]
    assert list(admin.last("SummarizeUsage").group_by) == [
        usage_pb2.USAGE_GROUP_BY_MODEL,
        usage_pb2.USAGE_GROUP_BY_KEY,
    ]
    assert oggy(env, "usage", "summary", "-w", "demo", "--by", "model", "--by", "key",
                "--format", "json") == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["requests"] == "3" and rows[0]["total_tokens"] == "42"
    assert rows[0]["group"] == ["gpt-4o", KEY_NAME]


def test_demo_setup_is_idempotent(admin: AdminServer) -> None:
    def provider() -> object:
        request = pb.GetProviderCredentialRequest(name=demo.PROVIDER)
        return admin.client.stub.GetProviderCredential(request).provider_credential

    with AdminClient(admin.address, admin.token) as client:
        first = demo.ensure_demo(client, "http://127.0.0.1:1111/v1", "")
        assert first.workspace == "workspaces/demo"
        provider_before = provider()
        again = demo.ensure_demo(client, "http://127.0.0.1:1111/v1", first.key_text)
        assert again.key_text == first.key_text
        assert provider() == provider_before  # untouched
        assert len(admin.calls("CreateProviderCredential")) == 1
        # The mock moved: the provider is recreated with the new base URL.
        moved = demo.ensure_demo(client, "http://127.0.0.1:2222/v1", first.key_text)
        assert provider().base_url == "http://127.0.0.1:2222/v1"
        assert moved.key_text == first.key_text
        # The stored key was revoked: a new one is made.
        main.run(["key", "revoke", first.key_text, "-w", "demo"], env=admin.env())
        fresh = demo.ensure_demo(client, "http://127.0.0.1:2222/v1", first.key_text)
        assert fresh.key_text != first.key_text
        # Garbage in endpoints.json: a new key, no crash.
        assert demo.ensure_demo(client, "http://127.0.0.1:2222/v1", "garbage").key_text
    workspaces = admin.client.stub.ListWorkspaces(pb.ListWorkspacesRequest()).workspaces
    assert [w.name for w in workspaces] == ["workspaces/demo"]


@pytest.mark.parametrize(
    "command",
    [["usage", "summary"], ["usage", "list"], ["prices", "unpriced"], ["prompt-logs", "list"]],
)
def test_usage_of_a_missing_workspace_is_not_found(
    admin: AdminServer, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Not zeros: a typo in -w must not look like a quiet workspace.
    assert oggy(admin.env(), *command, "-w", "nosuch") == 1
    assert capsys.readouterr().err == "error: NOT_FOUND: workspaces/nosuch not found\n"
    # Permission before existence: a wrong token learns nothing about workspaces.
    assert oggy({**admin.env(), "OGGY_ADMIN_TOKEN": "wrong"}, *command, "-w", "nosuch") == 1
    assert capsys.readouterr().err.startswith("error: UNAUTHENTICATED: ")


def test_key_revoke_and_rotate_show_the_use_count_list_shows(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "key", "create", "--id", KEY_ID) == 0
    admin.insert_usage([event(f"e{i}", 60, key=KEY_NAME) for i in range(3)])
    capsys.readouterr()
    assert oggy(env, "key", "list") == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "3"
    assert oggy(env, "key", "rotate", KEY_ID, "--grace", "1h") == 0
    assert re.search(r"^uses: +3$", capsys.readouterr().out, re.M)
    assert oggy(env, "key", "revoke", KEY_ID) == 0
    out = capsys.readouterr().out
    assert re.search(r"^uses: +3$", out, re.M) and re.search(r"^last used: +\S+", out, re.M)


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's `.venv/bin/oggy ...` lines that start with `prefix`, as argv lists."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    found = []
    for line in readme.splitlines():
        if line.startswith(f".venv/bin/oggy {prefix}"):
            found.append(shlex.split(line, comments=True)[1:])
    return found


def test_the_readme_route_example_works_on_the_demo(
    admin: AdminServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seeded as `oggy up --demo` seeds it; OGGY_WORKSPACE stands in for endpoints.json.
    with AdminClient(admin.address, admin.token) as client:
        demo.ensure_demo(client, "http://127.0.0.1:9/v1", "")
    env = admin.env(OGGY_WORKSPACE="demo")
    commands = readme_commands("route create")
    assert commands, "the README has no `oggy route create` example"
    for argv in commands:
        assert oggy(env, *argv) == 0, capsys.readouterr().err
    routes = admin.client.stub.ListRoutes(pb.ListRoutesRequest(parent=demo.WORKSPACE)).routes
    assert len(routes) == len(commands)
    for route in routes:
        assert {t.provider for t in route.targets} <= {demo.PROVIDER}
