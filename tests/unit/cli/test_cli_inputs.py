"""Provider API key input, usage filters, and the `oggy up` banner and ports."""

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.cli import endpoints, ports, up
from controlplane.cli.commands import provider, usage
from controlplane.cli.errors import CliError


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_api_key_from_env() -> None:
    assert provider.read_api_key("KEY", {"KEY": " sk-123 \n"}) == "sk-123"
    with pytest.raises(CliError, match=r"\$KEY is not set"):
        provider.read_api_key("KEY", {})
    with pytest.raises(CliError, match="variable NAME") as exc:
        provider.read_api_key("sk-proj-abc123", {})
    assert "sk-proj" not in str(exc.value)


def test_api_key_from_piped_stdin() -> None:
    assert provider.read_api_key(None, {}, io.StringIO("sk-abc\n")) == "sk-abc"
    with pytest.raises(CliError, match="no API key"):
        provider.read_api_key(None, {}, io.StringIO(""))
    with pytest.raises(CliError, match="one line"):
        provider.read_api_key(None, {}, io.StringIO("sk a\nb"))


def test_api_key_prompt_on_a_terminal_does_not_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "sk-typed"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert provider.read_api_key(None, {}, _Tty()) == "sk-typed"
    assert prompts and "hidden" in prompts[0]


def _filter_args(**overrides: object) -> argparse.Namespace:
    values = dict(
        key=None, actor=None, model=None, provider=None, since=None, until=None, errors_only=False
    )
    values.update(overrides)
    return argparse.Namespace(**values)


def test_usage_filter_normalises_names_and_times() -> None:
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    args = _filter_args(
        key="oggy_live_kabc", actor="alice", provider="openai", model="gpt-4o", since="2h",
        until="2025-03-10T11:00:00Z", errors_only=True,
    )  # fmt: skip
    f = usage.build_filter(args, "workspaces/demo", now)
    assert f.workspace == "workspaces/demo"
    assert f.key == "workspaces/demo/keys/kabc"
    assert f.actor == "workspaces/demo/actors/alice"
    assert f.provider == "workspaces/demo/providers/openai"
    assert f.model == "gpt-4o"
    assert f.start_time.ToDatetime(UTC) == datetime(2025, 3, 10, 10, tzinfo=UTC)
    assert f.end_time.ToDatetime(UTC) == datetime(2025, 3, 10, 11, tzinfo=UTC)
    assert f.errors_only


def test_usage_filter_leaves_unset_fields_empty() -> None:
    f = usage.build_filter(_filter_args(), "workspaces/demo")
    assert not f.HasField("start_time") and not f.HasField("end_time")
    assert (f.key, f.actor, f.model) == ("", "", "")


def test_summary_columns_follow_group_by() -> None:
    cols = usage.summary_columns([3, 1])
    assert [c[0] for c in cols][:3] == ["model", "actor", "requests"]


def test_banner_with_demo_key_has_curl_and_python() -> None:
    saved = endpoints.Endpoints(
        gateway_url="http://127.0.0.1:8080/v1",
        admin_address="127.0.0.1:4000",
        admin_token="admin-secret",
        workspace="workspaces/demo",
        gateway_key="oggy_live_kabc_s3cret",
        models=("gpt-4o-mini", "gpt-4o"),
    )
    text = up.banner(saved, Path(".oggy"))
    assert "curl -s http://127.0.0.1:8080/v1/chat/completions" in text
    assert "Bearer oggy_live_kabc_s3cret" in text
    assert 'json.load(open(".oggy/endpoints.json"))' in text
    # The admin token stays in the 0600 file, never on the terminal.
    assert "admin-secret" not in text


def test_banner_without_demo_says_what_next() -> None:
    text = up.banner(endpoints.Endpoints(gateway_url="http://h:1/v1"), Path("s"))
    assert "oggy workspace create" in text and "curl" not in text


def test_ports_reuse_saved_when_free(tmp_path: Path) -> None:
    free = ports.free_port()
    ports.save(tmp_path, {"mock": free, "bogus": 0})
    saved = ports.load(tmp_path)
    assert saved == {"mock": free}
    assert ports.pick(saved, "mock") == free
    assert ports.pick(saved, "other", {free}) != free


def test_azure_deployments_parse_and_reject_bad_pairs() -> None:
    import pytest

    from controlplane.cli.commands.provider import parse_deployments
    from controlplane.cli.errors import CliError

    assert parse_deployments(["gpt-4o=prod-4o", "o3=o3-east"]) == {
        "gpt-4o": "prod-4o",
        "o3": "o3-east",
    }
    for bad in ("gpt-4o", "=x", "gpt-4o="):
        with pytest.raises(CliError):
            parse_deployments([bad])
