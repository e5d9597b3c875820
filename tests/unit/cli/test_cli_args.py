"""Argument parsing of every `oggy` command (no network: parse only)."""

import importlib.metadata
from pathlib import Path

import pytest

from controlplane.cli import main, up
from controlplane.cli.commands import key, planes, provider, usage, workspace


def parse(*argv: str):
    return main.build_parser().parse_args(list(argv))


def test_workspace_commands() -> None:
    args = parse("workspace", "create", "demo", "--display-name", "Demo")
    assert args.handler is workspace.create
    assert (args.workspace, args.display_name, args.format) == ("demo", "Demo", "table")
    assert parse("workspace", "list", "--format", "json").format == "json"


def test_key_commands_take_workspace_and_format() -> None:
    args = parse("key", "create", "-w", "demo", "--expires-in", "30d", "--format", "json")
    assert args.handler is key.create
    assert (args.workspace, args.expires_in, args.format) == ("demo", "30d", "json")
    assert parse("key", "list", "--workspace", "workspaces/demo").workspace == "workspaces/demo"
    revoke = parse("key", "revoke", "k1")
    assert (revoke.handler, revoke.key, revoke.workspace) == (key.revoke, "k1", None)


def test_provider_add() -> None:
    args = parse(
        "provider", "add", "openai", "--kind", "openai", "--models", "gpt-4o*", "o3*",
        "--api-key-env", "OPENAI_API_KEY",
    )  # fmt: skip
    assert args.handler is provider.add
    assert args.models == ["gpt-4o*", "o3*"]
    assert (args.kind, args.api_key_env, args.base_url) == ("openai", "OPENAI_API_KEY", None)


@pytest.mark.parametrize(
    "argv",
    [
        ["provider", "add", "p", "--models", "m"],  # no --kind
        ["provider", "add", "p", "--kind", "bedrock", "--models", "m"],  # unsupported kind
        ["provider", "add", "p", "--kind", "openai"],  # no --models
        ["provider", "add", "p", "--kind", "openai", "--models", "m", "--api-key", "sk"],
        ["usage", "list", "--format", "yaml"],
        ["usage", "list", "--limit", "ten"],
        ["key"],
        [],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2


def test_usage_summary_by_is_repeatable() -> None:
    args = parse("usage", "summary", "--by", "actor", "--by", "model", "--since", "1h")
    assert args.handler is usage.summarize
    assert (args.by, args.since) == (["actor", "model"], "1h")


def test_usage_list_filters() -> None:
    args = parse(
        "usage", "list", "--key", "k1", "--actor", "alice", "--model", "gpt-4o",
        "--since", "2025-01-01", "--limit", "5", "--errors-only",
    )  # fmt: skip
    assert (args.key, args.actor, args.model, args.since, args.limit) == (
        "k1", "alice", "gpt-4o", "2025-01-01", 5,
    )  # fmt: skip
    assert args.errors_only is True
    assert parse("usage", "list").limit == 50


def test_connection_flags_and_state_dir_default() -> None:
    args = parse("workspace", "list", "--admin-address", "h:1", "--admin-token", "t")
    assert (args.admin_address, args.admin_token) == ("h:1", "t")
    assert args.state_dir == Path(".oggy")


def test_up_defaults() -> None:
    args = parse("up")
    assert args.handler is up.run_up
    assert (args.demo, args.state_dir, args.http_port, args.grpc_port, args.etcd) == (
        False, Path(".oggy"), 8080, 0, None,
    )  # fmt: skip
    args = parse(
        "up", "--demo", "--state-dir", "/tmp/x", "--http-port", "0", "--etcd", "http://e:1"
    )
    assert (args.demo, args.state_dir, args.http_port, args.etcd) == (
        True, Path("/tmp/x"), 0, "http://e:1",
    )  # fmt: skip


def test_controlplane_flags_left_unset_are_none() -> None:
    args = parse("controlplane", "--etcd", "http://127.0.0.1:2379", "--state-dir", "/s")
    assert args.handler is planes.run_controlplane
    assert (args.etcd, args.grpc, args.etcd_prefix, args.usage_store) == (
        "http://127.0.0.1:2379", None, None, None,
    )  # fmt: skip
    assert args.state_dir == Path("/s")


def test_dataplane_flags_come_from_dataplane_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(planes, "run_dataplane_argv", lambda argv: seen.append(argv) or 0)
    from controlplane.cli.main import run

    assert run(["dataplane", "--control-plane", "127.0.0.1:1", "--http", "127.0.0.1:0"]) == 0
    assert seen == [["--control-plane", "127.0.0.1:1", "--http", "127.0.0.1:0"]]


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["key", "create", "--nosuch"], "usage: oggy key create "),
        (["usage", "summary", "-w", "demo", "--bogus", "x"], "usage: oggy usage summary "),
        (["key", "--nosuch", "list"], "usage: oggy key "),
        (["up", "--nosuch"], "usage: oggy up "),
        (["--nosuch", "key", "list"], "usage: oggy "),
    ],
)
def test_a_bad_flag_is_reported_by_the_command_that_got_it(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    bad = next(a for a in argv if a.startswith("--"))
    assert f"error: unrecognized arguments: {bad}" in err


def test_version_comes_from_the_installed_package(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--version")
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"oggy {importlib.metadata.version('oggy')}\n"

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    # Run from a source tree that was never installed: still an answer, not a traceback.
    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(SystemExit):
        parse("--version")
    assert capsys.readouterr().out == "oggy (version unknown: not installed)\n"
