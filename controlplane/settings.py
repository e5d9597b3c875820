"""Control-plane settings: flags and environment → one frozen, validated Settings."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.store.endpoint import parse_endpoint
from oggy.contract.leases import DEFAULT_LEASE_TTL_S, DEFAULT_REPORT_INTERVAL_S

DEFAULT_ETCD = "http://127.0.0.1:2379"
DEFAULT_GRPC = "127.0.0.1:50051"
DEFAULT_PREFIX = "/oggy/"
DEFAULT_ETCD_TIMEOUT_S = 1.5


class SettingsError(ValueError):
    """A flag or environment value is invalid; the message says which."""


def parse_host_port(value: str, flag: str = "--grpc") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{flag} must be HOST:PORT, got {value!r}")
    return host.strip("[]") if host.startswith("[") else host, int(port)


@dataclass(frozen=True, slots=True)
class Settings:
    state_dir: Path
    etcd: str = DEFAULT_ETCD
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    etcd_prefix: str = DEFAULT_PREFIX
    # `sqlite:///path.db`; empty means `<state_dir>/usage.db`.
    usage_store: str = ""
    # Env overrides (OGGY_ADMIN_TOKEN, OGGY_NODE_TOKEN, OGGY_KEK); None → state files.
    admin_token: str | None = field(default=None, repr=False)
    node_token: str | None = field(default=None, repr=False)
    kek: str | None = field(default=None, repr=False)
    # A KEK keyring file instead of `<state_dir>/kek` (and instead of OGGY_KEK).
    kek_file: Path | None = None
    # Serve gRPC over TLS with this certificate chain and private key (PEM files).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Bound on each etcd call (a frozen etcd fails admin calls this fast), and on
    # waiting for etcd at startup.
    etcd_timeout_s: float = DEFAULT_ETCD_TIMEOUT_S
    etcd_startup_wait_s: float = 15.0
    # Longest wait between attempts to reach etcd again (reconnect, config watch resync):
    # how long after etcd is back the control plane may take to notice.
    etcd_retry_max_s: float = 1.0
    # How often etcd's alarms (NOSPACE) and database size are read, for logs and metrics.
    etcd_health_interval_s: float = 10.0
    # Serve Prometheus metrics at http://HOST:PORT/metrics; empty: no metrics endpoint.
    metrics_address: str = ""
    shutdown_grace_s: float = 5.0
    # How often expired prompt text is purged.
    retention_interval_s: float = 300.0
    # Quota leases (controlplane.quota): the address data planes are redirected to when
    # this process allocates ("" = the gRPC listen address), a lease's life, how often
    # data planes report, and the TTL of the etcd lease behind the allocator election.
    advertise_address: str = ""
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    quota_report_interval_s: float = DEFAULT_REPORT_INTERVAL_S
    election_ttl_s: int = 5

    def __post_init__(self) -> None:
        try:
            parse_endpoint(self.etcd)
        except ValueError as exc:
            raise SettingsError(f"--etcd: {exc}") from None
        if not self.etcd_prefix.startswith("/") or not self.etcd_prefix.endswith("/"):
            raise SettingsError(
                f"--etcd-prefix must start and end with '/', got {self.etcd_prefix!r}"
            )
        if not 0 <= self.grpc_port <= 65535:
            raise SettingsError("grpc port out of range")
        if self.usage_store and not self.usage_store.startswith(("sqlite:", "postgres")):
            raise SettingsError(
                "--usage-store must be sqlite:///PATH or postgresql://..., "
                f"got a {self.usage_store.split(':', 1)[0]!r} URL"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together")
        if self.etcd_timeout_s <= 0:
            raise SettingsError(f"--etcd-timeout must be positive, got {self.etcd_timeout_s}")
        if self.metrics_address:
            parse_host_port(self.metrics_address, "--metrics")
        if self.advertise_address:
            parse_host_port(self.advertise_address, "--advertise-address")
        if self.lease_ttl_s <= 0 or self.quota_report_interval_s <= 0:
            raise SettingsError("--lease-ttl and --quota-report-interval must be positive")
        if self.quota_report_interval_s >= self.lease_ttl_s:
            raise SettingsError("--quota-report-interval must be shorter than --lease-ttl")
        if self.election_ttl_s < 2:
            raise SettingsError("the election TTL must be at least 2 s (etcd's minimum)")
        for flag, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path is not None and not path.is_file():
                raise SettingsError(f"{flag}: no such file {path}")

    @property
    def grpc_address(self) -> str:
        host = f"[{self.grpc_host}]" if ":" in self.grpc_host else self.grpc_host
        return f"{host}:{self.grpc_port}"

    def advertised(self, port: int) -> str:
        """Where data planes reach this process: --advertise-address, else the listen
        address with the bound port (port 0 in tests)."""
        if self.advertise_address:
            return self.advertise_address
        host = f"[{self.grpc_host}]" if ":" in self.grpc_host else self.grpc_host
        return f"{host}:{port}"

    @property
    def usage_store_url(self) -> str:
        return self.usage_store or f"sqlite:///{self.state_dir / 'usage.db'}"

    @classmethod
    def from_flags(
        cls,
        *,
        state_dir: str | Path,
        etcd: str = DEFAULT_ETCD,
        grpc: str = DEFAULT_GRPC,
        etcd_prefix: str = DEFAULT_PREFIX,
        usage_store: str | None = None,
        kek_file: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        etcd_timeout_s: float = DEFAULT_ETCD_TIMEOUT_S,
        metrics: str | None = None,
        advertise_address: str | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        quota_report_interval_s: float = DEFAULT_REPORT_INTERVAL_S,
        election_ttl_s: int = 5,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        host, port = parse_host_port(grpc)
        prefix = etcd_prefix if etcd_prefix.endswith("/") else etcd_prefix + "/"
        return cls(
            state_dir=Path(state_dir).expanduser().resolve(),
            etcd=etcd,
            grpc_host=host,
            grpc_port=port,
            etcd_prefix=prefix,
            usage_store=usage_store or "",
            admin_token=env.get("OGGY_ADMIN_TOKEN") or None,
            node_token=env.get("OGGY_NODE_TOKEN") or None,
            kek=env.get("OGGY_KEK") or None,
            kek_file=_path(kek_file),
            tls_cert=_path(tls_cert),
            tls_key=_path(tls_key),
            etcd_timeout_s=etcd_timeout_s,
            metrics_address=metrics or "",
            advertise_address=advertise_address or "",
            lease_ttl_s=lease_ttl_s,
            quota_report_interval_s=quota_report_interval_s,
            election_ttl_s=election_ttl_s,
        )


def _path(value: str | Path | None) -> Path | None:
    return Path(value).expanduser().resolve() if value else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `oggy controlplane` flags; pair with `Settings.from_flags`."""
    parser.add_argument("--etcd", default=DEFAULT_ETCD, help="etcd endpoint, http://HOST:PORT")
    parser.add_argument("--grpc", default=DEFAULT_GRPC, help="gRPC listen address HOST:PORT")
    parser.add_argument("--state-dir", required=True, help="dir for kek, admin_token, node_token")
    parser.add_argument("--etcd-prefix", default=DEFAULT_PREFIX, help="key prefix in etcd")
    parser.add_argument(
        "--usage-store",
        default=None,
        help="sqlite:///PATH (default STATE_DIR/usage.db) or postgresql://USER@HOST/DB",
    )
    add_security_arguments(parser)


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """--kek-file, --tls-cert, --tls-key (also used by `oggy controlplane`)."""
    parser.add_argument(
        "--kek-file", help="KEK keyring file (default $OGGY_KEK, else STATE_DIR/kek)"
    )
    parser.add_argument("--tls-cert", help="serve gRPC over TLS: certificate chain (PEM)")
    parser.add_argument("--tls-key", help="serve gRPC over TLS: private key (PEM)")
