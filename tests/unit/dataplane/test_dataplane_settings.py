import argparse
from pathlib import Path

import pytest

from dataplane.backoff import Backoff
from dataplane.settings import Settings, SettingsError, add_arguments, from_args


def parse(*argv: str, env: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(list(argv)), env=env or {})


def test_defaults_with_token_from_env() -> None:
    s = parse(env={"OGGY_NODE_TOKEN": "tok\n"})
    assert s.node_token == "tok"
    assert (s.control_plane, s.http_host, s.http_port) == ("127.0.0.1:50051", "127.0.0.1", 8080)
    assert s.spool_dir == Path(".oggy/spool")
    assert s.snapshot_file is None
    assert (
        s.upstream_connect_timeout_s,
        s.upstream_first_byte_timeout_s,
        s.upstream_between_chunks_timeout_s,
    ) == (5.0, 120.0, 60.0)
    assert s.max_config_age_s is None  # off: static stability is the default
    assert s.node_id.startswith(s.hostname + "-")


def test_token_file_beats_env_beats_state_dir(tmp_path: Path) -> None:
    (tmp_path / "node_token").write_text("from-state-dir\n")
    (tmp_path / "tok").write_text("from-file\n")
    env = {"OGGY_NODE_TOKEN": "from-env"}
    assert parse("--state-dir", str(tmp_path)).node_token == "from-state-dir"
    assert parse("--state-dir", str(tmp_path), env=env).node_token == "from-env"
    s = parse("--state-dir", str(tmp_path), "--node-token-file", str(tmp_path / "tok"), env=env)
    assert s.node_token == "from-file"
    assert s.spool_dir == tmp_path / "spool"


def test_token_never_in_repr() -> None:
    s = Settings(node_token="very-secret")
    assert "very-secret" not in repr(s)


def test_flags() -> None:
    s = parse(
        "--control-plane=cp.internal:6000",
        "--http=0.0.0.0:0",
        "--node-id=dp-7",
        "--spool-dir=/var/spool/oggy",
        "--snapshot-file=/var/lib/oggy/snap",
        env={"OGGY_NODE_TOKEN": "t"},
    )
    assert (s.control_plane, s.http_host, s.http_port, s.node_id) == (
        "cp.internal:6000",
        "0.0.0.0",
        0,
        "dp-7",
    )
    assert s.snapshot_file == Path("/var/lib/oggy/snap")


@pytest.mark.parametrize(
    "argv",
    [
        ["--http=8080"],
        ["--http=127.0.0.1:99999"],
        ["--control-plane=nohost"],
        ["--max-body-bytes=0"],
        ["--upstream-connect-timeout=0"],
    ],
)
def test_invalid_flags(argv: list[str]) -> None:
    with pytest.raises(SettingsError):
        parse(*argv, env={"OGGY_NODE_TOKEN": "t"})


def test_missing_token_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="node token missing"):
        parse()
    with pytest.raises(SettingsError, match="cannot read node token file"):
        parse("--node-token-file", str(tmp_path / "absent"))


def test_backoff_grows_to_the_cap_with_jitter_and_resets() -> None:
    high = Backoff(0.1, 5.0, rand=lambda: 1.0)
    assert [round(high.next_delay(), 3) for _ in range(8)] == [
        0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0,
    ]  # fmt: skip
    low = Backoff(0.1, 5.0, rand=lambda: 0.0)
    assert [round(low.next_delay(), 3) for _ in range(3)] == [0.05, 0.1, 0.2]
    high.reset()
    assert high.next_delay() == pytest.approx(0.1)
