import json
import stat
from pathlib import Path

import pytest

from controlplane.cli import endpoints, main
from controlplane.cli.errors import CliError

SAVED = endpoints.Endpoints(
    gateway_url="http://127.0.0.1:8080/v1",
    admin_address="127.0.0.1:4000",
    admin_token="file-token",
    workspace="workspaces/demo",
    gateway_key="oggy_live_kabc_secret",
    models=("gpt-4o-mini",),
)


def test_write_endpoints_is_private_and_round_trips(tmp_path: Path) -> None:
    path = endpoints.write_endpoints(tmp_path, SAVED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert set(data) == {
        "gateway_url", "admin_address", "admin_token", "workspace", "gateway_key", "models",
    }  # fmt: skip
    assert data["models"] == ["gpt-4o-mini"]
    assert endpoints.load_endpoints(tmp_path) == SAVED


def test_secrets_are_not_in_repr() -> None:
    assert "file-token" not in repr(SAVED)
    assert "secret" not in repr(SAVED)
    assert "tok" not in repr(endpoints.Connection("a:1", "tok"))


def test_load_missing_is_none_and_malformed_is_a_clear_error(tmp_path: Path) -> None:
    assert endpoints.load_endpoints(tmp_path) is None
    (tmp_path / "endpoints.json").write_text("{not json")
    with pytest.raises(CliError, match="cannot read"):
        endpoints.load_endpoints(tmp_path)


def test_connection_precedence_flag_env_file(tmp_path: Path) -> None:
    endpoints.write_endpoints(tmp_path, SAVED)
    env = {"OGGY_ADMIN_ADDRESS": "env:1", "OGGY_ADMIN_TOKEN": "env-token"}
    flag = endpoints.resolve_connection("flag:1", "flag-token", tmp_path, env)
    assert (flag.address, flag.token) == ("flag:1", "flag-token")
    from_env = endpoints.resolve_connection(None, None, tmp_path, env)
    assert (from_env.address, from_env.token) == ("env:1", "env-token")
    from_file = endpoints.resolve_connection(None, None, tmp_path, {})
    assert (from_file.address, from_file.token) == ("127.0.0.1:4000", "file-token")


def test_connection_falls_back_to_admin_token_file_and_default_address(tmp_path: Path) -> None:
    (tmp_path / "admin_token").write_text("from-state-dir\n")
    conn = endpoints.resolve_connection(None, None, tmp_path, {})
    assert (conn.address, conn.token) == ("127.0.0.1:50051", "from-state-dir")


def test_connection_without_token_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"no admin token.*OGGY_ADMIN_TOKEN"):
        endpoints.resolve_connection("h:1", None, tmp_path, {})


def test_workspace_precedence(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="no workspace"):
        endpoints.resolve_workspace(None, tmp_path, {})
    endpoints.write_endpoints(tmp_path, SAVED)
    assert endpoints.resolve_workspace(None, tmp_path, {}) == "workspaces/demo"
    assert endpoints.resolve_workspace(None, tmp_path, {"OGGY_WORKSPACE": "team"}) == "team"
    assert endpoints.resolve_workspace("flag", tmp_path, {"OGGY_WORKSPACE": "team"}) == "flag"


@pytest.mark.parametrize("argv", [["key", "list"], ["key", "list", "-w", "demo"]])
def test_outside_a_checkout_the_error_names_the_endpoints_file_it_looked_for(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main.run(argv, env={}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{tmp_path / '.oggy' / 'endpoints.json'} does not exist" in err
    # How to point the CLI elsewhere.
    for hint in ("--state-dir", "--admin-address", "OGGY_ADMIN_ADDRESS", "OGGY_ADMIN_TOKEN"):
        assert hint in err
    assert err.startswith("error: no admin token: " if "-w" in argv else "error: no workspace: ")


def test_with_an_endpoints_file_the_errors_stay_short(tmp_path: Path) -> None:
    endpoints.write_endpoints(tmp_path, endpoints.Endpoints(admin_address="h:1"))
    with pytest.raises(CliError) as info:
        endpoints.resolve_workspace(None, tmp_path, {})
    assert str(info.value) == "no workspace: pass --workspace W or set OGGY_WORKSPACE"
