"""Data plane settings: CLI flags and environment → one frozen, validated Settings.

Everything the process needs to know at start is read here, once; the rest of the
data plane receives a `Settings` and never looks at `os.environ` or argv again.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oggy.contract.timeouts import DEFAULT_TIMEOUTS

DEFAULT_CONTROL_PLANE = "127.0.0.1:50051"
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_SPOOL_MAX_BYTES = 1024**3
# Keepalive on the streams to the control plane: a connection that silently stopped
# carrying packets is noticed within time + timeout (10 s) and replaced.
DEFAULT_KEEPALIVE_TIME_S = 5.0
DEFAULT_KEEPALIVE_TIMEOUT_S = 5.0
# Longest wait between attempts to reconnect to the control plane: how long after it
# (or the network) is back the streams may take to resume.
DEFAULT_RECONNECT_BACKOFF_MAX_S = 2.0
# The control plane answers pings at most every 0.5 s; twice that leaves room for jitter.
MIN_KEEPALIVE_TIME_S = 1.0
NODE_TOKEN_ENV = "OGGY_NODE_TOKEN"
TLS_CA_ENV = "OGGY_TLS_CA"


class SettingsError(ValueError):
    """A flag or environment value is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Settings:
    # host:port of the control plane's gRPC endpoint.
    control_plane: str = DEFAULT_CONTROL_PLANE
    http_host: str = "127.0.0.1"
    # 0 picks a free port (tests); the real one is printed when serving.
    http_port: int = 8080
    # Bearer token for the config and usage streams. Never printed (repr=False).
    node_token: str = field(default="", repr=False)
    node_id: str = ""
    spool_dir: Path = Path(".oggy/spool")
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    # Last good snapshot for static stability; None disables it.
    snapshot_file: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    upstream_connect_timeout_s: float = DEFAULT_TIMEOUTS.connect_s  # type: ignore[assignment]
    upstream_first_byte_timeout_s: float = DEFAULT_TIMEOUTS.first_byte_s  # type: ignore[assignment]
    upstream_between_chunks_timeout_s: float = DEFAULT_TIMEOUTS.idle_s  # type: ignore[assignment]
    # Fail closed (503) once no control plane has been heard from for this long;
    # None: serve the last config for ever (static stability, the default).
    max_config_age_s: float | None = None
    # How long a graceful stop waits for in-flight requests and usage acks.
    shutdown_grace_s: float = 10.0
    hostname: str = field(default_factory=socket.gethostname)
    # CA bundle (PEM) to verify the control plane's TLS certificate; None: plaintext gRPC.
    tls_ca: Path | None = None
    # Name expected in the control plane's certificate, when not the --control-plane host.
    tls_server_name: str = ""
    keepalive_time_s: float = DEFAULT_KEEPALIVE_TIME_S
    keepalive_timeout_s: float = DEFAULT_KEEPALIVE_TIMEOUT_S
    reconnect_backoff_max_s: float = DEFAULT_RECONNECT_BACKOFF_MAX_S
    # False only to show what budgets' reservation at admission is for (hidden flag).
    reserve_spend: bool = True

    def __post_init__(self) -> None:
        if not self.node_id:
            object.__setattr__(self, "node_id", default_node_id(self.hostname))
        validate(self)


def default_node_id(hostname: str) -> str:
    """hostname-pid-random: unique per process, readable in control-plane logs."""
    return f"{hostname}-{os.getpid()}-{secrets.token_hex(3)}"


def validate(s: Settings) -> None:
    parse_host_port(s.control_plane, flag="--control-plane")
    if not s.http_host:
        raise SettingsError("--http: host must not be empty")
    if not 0 <= s.http_port <= 65535:
        raise SettingsError(f"--http: port {s.http_port} out of range")
    if not s.node_token:
        raise SettingsError(
            f"node token missing: pass --node-token-file, set {NODE_TOKEN_ENV}, "
            "or --state-dir with a node_token file"
        )
    if any(c.isspace() for c in s.node_token):
        raise SettingsError("node token must not contain whitespace")
    if s.max_body_bytes <= 0:
        raise SettingsError("--max-body-bytes must be positive")
    if s.spool_max_bytes <= 0:
        raise SettingsError("--spool-max-bytes must be positive")
    for name in (
        "upstream_connect_timeout_s",
        "upstream_first_byte_timeout_s",
        "upstream_between_chunks_timeout_s",
    ):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name} must be positive")
    if s.max_config_age_s is not None and s.max_config_age_s <= 0:
        raise SettingsError("--max-config-age must be positive")
    if s.keepalive_time_s < MIN_KEEPALIVE_TIME_S:
        raise SettingsError(f"--keepalive-time must be at least {MIN_KEEPALIVE_TIME_S:g} s")
    if s.keepalive_timeout_s <= 0:
        raise SettingsError("--keepalive-timeout must be positive")
    if s.reconnect_backoff_max_s < 0.1:
        raise SettingsError("--reconnect-backoff-max must be at least 0.1 s")
    if s.shutdown_grace_s < 0:
        raise SettingsError("shutdown grace must not be negative")
    if s.tls_ca is not None and not s.tls_ca.is_file():
        raise SettingsError(f"--tls-ca: no such file {s.tls_ca}")
    if s.tls_server_name and s.tls_ca is None:
        raise SettingsError("--tls-server-name needs --tls-ca")


def parse_host_port(value: str, *, flag: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise SettingsError(f"{flag}: expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if port > 65535:
        raise SettingsError(f"{flag}: port {port} out of range")
    # Allow "[::1]:8080" for IPv6 literals.
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `oggy dataplane` flags on `parser`."""
    parser.add_argument(
        "--control-plane",
        default=DEFAULT_CONTROL_PLANE,
        metavar="HOST:PORT",
        help="control plane gRPC address (default %(default)s)",
    )
    parser.add_argument(
        "--http",
        default=DEFAULT_HTTP,
        metavar="HOST:PORT",
        help="OpenAI-compatible HTTP listen address; port 0 picks one (default %(default)s)",
    )
    parser.add_argument(
        "--node-token-file",
        type=Path,
        help=f"file holding the node token (else ${NODE_TOKEN_ENV}, else STATE_DIR/node_token)",
    )
    parser.add_argument("--node-id", default="", help="default: hostname-pid-random")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="directory for the spool (and node_token when run next to a control plane)",
    )
    parser.add_argument(
        "--spool-dir", type=Path, help="usage spool (default STATE_DIR/spool or ./.oggy/spool)"
    )
    parser.add_argument(
        "--spool-max-bytes",
        type=int,
        default=DEFAULT_SPOOL_MAX_BYTES,
        help="usage spool size cap (default 1 GiB)",
    )
    parser.add_argument(
        "--snapshot-file",
        type=Path,
        help="keep the last good config here and start from it if the control plane is down",
    )
    parser.add_argument(
        "--tls-ca",
        type=Path,
        help=f"CA bundle (PEM) to reach the control plane over TLS (else ${TLS_CA_ENV})",
    )
    parser.add_argument(
        "--tls-server-name", default="", help="name in the control plane's certificate"
    )
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    # A demonstration switch, not a setting: budgets then count a request's cost only
    # once it settles, so concurrent requests overspend a hard budget (the e2e test
    # of budgets fails with it, which is the point).
    parser.add_argument(
        "--unsafe-no-spend-reservation",
        dest="reserve_spend",
        action="store_false",
        help=argparse.SUPPRESS,
    )
    # Defaults for providers that set none (ProviderCredential.timeouts).
    for flag, default, text in (
        ("--upstream-connect-timeout", DEFAULT_TIMEOUTS.connect_s, "to connect"),
        ("--upstream-first-byte-timeout", DEFAULT_TIMEOUTS.first_byte_s, "until the headers"),
        ("--upstream-between-chunks-timeout", DEFAULT_TIMEOUTS.idle_s, "silence in a stream"),
    ):
        parser.add_argument(
            flag,
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"{text} (default %(default)s)",
        )
    parser.add_argument(
        "--max-config-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="refuse requests (503 config_stale) once no control plane has been heard from"
        " for this long (default: off, serve the last config for ever)",
    )
    parser.add_argument(
        "--keepalive-time",
        type=float,
        default=DEFAULT_KEEPALIVE_TIME_S,
        metavar="SECONDS",
        help="ping the control plane connection this often (default %(default)s)",
    )
    parser.add_argument(
        "--keepalive-timeout",
        type=float,
        default=DEFAULT_KEEPALIVE_TIMEOUT_S,
        metavar="SECONDS",
        help="replace the connection if a ping is not answered within (default %(default)s)",
    )
    parser.add_argument(
        "--reconnect-backoff-max",
        type=float,
        default=DEFAULT_RECONNECT_BACKOFF_MAX_S,
        metavar="SECONDS",
        help="longest wait between reconnect attempts (default %(default)s)",
    )


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from parsed `add_arguments` flags; raises SettingsError."""
    env = os.environ if env is None else env
    http_host, http_port = parse_host_port(args.http, flag="--http")
    state_dir: Path | None = args.state_dir
    if args.spool_dir is not None:
        spool_dir = args.spool_dir
    elif state_dir is not None:
        spool_dir = state_dir / "spool"
    else:
        spool_dir = Path(".oggy/spool")
    return Settings(
        control_plane=args.control_plane,
        http_host=http_host,
        http_port=http_port,
        node_token=_read_node_token(args.node_token_file, state_dir, env),
        node_id=args.node_id,
        spool_dir=spool_dir,
        spool_max_bytes=args.spool_max_bytes,
        snapshot_file=args.snapshot_file,
        max_body_bytes=args.max_body_bytes,
        upstream_connect_timeout_s=args.upstream_connect_timeout,
        upstream_first_byte_timeout_s=args.upstream_first_byte_timeout,
        upstream_between_chunks_timeout_s=args.upstream_between_chunks_timeout,
        max_config_age_s=getattr(args, "max_config_age", None),
        tls_ca=_tls_ca(getattr(args, "tls_ca", None), env),
        tls_server_name=getattr(args, "tls_server_name", "") or "",
        keepalive_time_s=args.keepalive_time,
        keepalive_timeout_s=args.keepalive_timeout,
        reconnect_backoff_max_s=args.reconnect_backoff_max,
        reserve_spend=getattr(args, "reserve_spend", True),
    )


def _tls_ca(flag: Path | None, env: Mapping[str, str]) -> Path | None:
    if flag is not None:
        return flag
    return Path(env[TLS_CA_ENV]) if env.get(TLS_CA_ENV) else None


def _read_node_token(
    token_file: Path | None, state_dir: Path | None, env: Mapping[str, str]
) -> str:
    # An explicit file wins over the environment, which wins over the state dir's
    # file (what `oggy up` leaves next to a local control plane).
    if token_file is not None:
        return _read_token_file(token_file)
    if env.get(NODE_TOKEN_ENV):
        return env[NODE_TOKEN_ENV].strip()
    if state_dir is not None and (state_dir / "node_token").is_file():
        return _read_token_file(state_dir / "node_token")
    return ""


def _read_token_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        # The error names the file, never its contents.
        raise SettingsError(f"cannot read node token file {path}: {e.strerror}") from None
