"""The control-plane process: admin, config and usage gRPC services on one port.

`create_server` wires everything and returns once serving (tests use port 0);
`run` adds logging, the listening line on stderr and SIGTERM/SIGINT handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import dataclass, field

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.api.admin_servicer import AdminServicer, seed_default_prices
from controlplane.api.auth import TokenAuthInterceptor
from controlplane.api.kek_rotation import KekRotationApi, KekRotator
from controlplane.api.usage_queries import UsageQueries
from controlplane.kek_check import KekMismatch, verify_kek
from controlplane.keyring import KeyringError, keyring_source
from controlplane.metrics import bound_port, start_metrics_server
from controlplane.publisher import ConfigDiscoveryServicer, ConfigPublisher
from controlplane.quota.election import Election
from controlplane.quota.leader import QuotaAllocation
from controlplane.quota.rules import RuleBook
from controlplane.quota.servicer import QuotaServicer
from controlplane.secrets import EnvelopeCipher
from controlplane.settings import Settings, SettingsError, parse_host_port
from controlplane.statefiles import ensure_private_dir, load_token
from controlplane.stop_signal import until_stop_signal
from controlplane.store.base import StoreUnavailable
from controlplane.store.etcd import EtcdStore
from controlplane.usage import UsageIngestServicer, open_usage_store
from controlplane.usage.errors import UsageStoreConfigError
from controlplane.usage.retention import RetentionJob
from oggy.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    config_service_pb2,
    config_service_pb2_grpc,
    quota_service_pb2,
    quota_service_pb2_grpc,
    usage_service_pb2,
    usage_service_pb2_grpc,
)

log = logging.getLogger(__name__)
MAX_RECEIVE_BYTES = 64 * 1024 * 1024

_SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    # Usage batches are capped at 8 MiB by data planes; leave headroom.
    ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    # Data planes ping their streams (`--keepalive-time`, at least 1 s) to notice a
    # connection that silently died; gRPC's default would answer pings more often than
    # every 5 min with GOAWAY. Allow them, with room for timer jitter.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 500),
    # And ping data planes too, so one that vanished without closing its connection is
    # noticed and its config stream released, not kept for the TCP timeout (~15 min).
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # gRPC 1.85 times a keepalive ping out after this one, not keepalive_timeout_ms.
    ("grpc.http2.ping_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
)

SERVICE_NAMES = (
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    config_service_pb2.DESCRIPTOR.services_by_name["ConfigDiscoveryService"].full_name,
    usage_service_pb2.DESCRIPTOR.services_by_name["UsageService"].full_name,
    quota_service_pb2.DESCRIPTOR.services_by_name["QuotaService"].full_name,
)


@dataclass
class ControlPlaneServer:
    """The running gRPC server plus everything it owns, stopped in reverse order."""

    grpc_server: grpc.aio.Server
    store: EtcdStore
    publisher: ConfigPublisher
    usage_store: object
    retention: RetentionJob
    usage_ingest: UsageIngestServicer
    health: health.aio.HealthServicer
    quota: QuotaAllocation
    election: Election
    admin_token: str = field(repr=False)
    node_token: str = field(repr=False)
    metrics: web.AppRunner | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def metrics_url(self) -> str | None:
        if self.metrics is None:
            return None
        host = self.metrics.addresses[0][0]
        return f"http://{f'[{host}]' if ':' in host else host}:{bound_port(self.metrics)}/metrics"

    async def stop(self, grace: float | None = None) -> None:
        if self._stopped:
            return
        self._stopped = True
        # NOT_SERVING first, so load balancers drain us before connections close.
        await self.health.enter_graceful_shutdown()
        # Resign first: another control plane takes over allocating at once.
        await self.election.stop()
        await self.quota.stop()
        # Long-lived streams first: they never end on their own, and the
        # server's graceful stop would otherwise wait out its whole grace.
        await self.publisher.stop()
        self.usage_ingest.drain()
        await self.grpc_server.stop(grace)
        if self.metrics is not None:
            await self.metrics.cleanup()
        await self.retention.stop()
        await self.usage_store.close()  # type: ignore[attr-defined]
        await self.store.close()

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()


async def _wait_for_etcd(store: EtcdStore, wait_s: float) -> None:
    """Bounded retry: `oggy up` may start etcd a moment before us."""
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            await store.ping()
            return
        except StoreUnavailable:
            if time.monotonic() + delay > deadline:
                raise
            log.info("waiting for etcd at %s", store.endpoint)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def create_server(settings: Settings) -> tuple[ControlPlaneServer, int]:
    """Start serving on `settings.grpc_address`; returns the server and the bound port."""
    ensure_private_dir(settings.state_dir)
    admin_token = load_token(settings.state_dir / "admin_token", settings.admin_token)
    node_token = load_token(settings.state_dir / "node_token", settings.node_token)
    kek_env = {"OGGY_KEK": settings.kek} if settings.kek else {}
    keyring = keyring_source(settings.state_dir, kek_file=settings.kek_file, environ=kek_env)
    cipher = EnvelopeCipher(keyring.load())
    credentials = _server_credentials(settings)

    async with contextlib.AsyncExitStack() as cleanup:
        store = EtcdStore(
            settings.etcd, timeout=settings.etcd_timeout_s, retry_max=settings.etcd_retry_max_s
        )
        cleanup.push_async_callback(store.close)
        await _wait_for_etcd(store, settings.etcd_startup_wait_s)
        store.start_health_checks(settings.etcd_health_interval_s)
        # First start: the shipped list prices (once; an emptied catalog stays empty).
        await seed_default_prices(store, settings.etcd_prefix, time.time)
        # Before anything decrypts: a wrong KEK stops the process here, by KEK id.
        await verify_kek(store, cipher, settings.etcd_prefix)
        rotator = KekRotator(
            store, cipher, keyring, prefix=settings.etcd_prefix, settle_s=settings.etcd_timeout_s
        )

        usage_store = open_usage_store(settings.usage_store_url)
        cleanup.push_async_callback(usage_store.close)
        retention = RetentionJob(usage_store, interval_s=settings.retention_interval_s)
        retention.start()
        cleanup.push_async_callback(retention.stop)

        # After an etcd outage the config watch is re-established as soon as etcd is back.
        publisher = ConfigPublisher(
            store, cipher, settings.etcd_prefix, retry_max=settings.etcd_retry_max_s
        )
        await publisher.start()
        cleanup.push_async_callback(publisher.stop)

        # Quota leases: rules from what is published, spend from the usage store.
        quota = QuotaAllocation(
            RuleBook(lambda: publisher.snapshot), usage_store, lease_ttl=settings.lease_ttl_s
        )
        quota.start()
        cleanup.push_async_callback(quota.stop)

        server = grpc.aio.server(
            interceptors=[TokenAuthInterceptor(admin_token, node_token)],
            options=_SERVER_OPTIONS,
        )
        admin_service_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(
                store,
                cipher,
                prefix=settings.etcd_prefix,
                usage_store=usage_store,
                usage_queries=UsageQueries(usage_store, retention=retention),
                kek_rotation=KekRotationApi(rotator),
                fleet=publisher,
                quota=quota,
            ),
            server,
        )
        config_service_pb2_grpc.add_ConfigDiscoveryServiceServicer_to_server(
            ConfigDiscoveryServicer(publisher), server
        )
        usage_ingest = UsageIngestServicer(usage_store, reports=publisher.node_registry)
        usage_service_pb2_grpc.add_UsageServiceServicer_to_server(usage_ingest, server)
        quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(
            QuotaServicer(quota, report_interval=settings.quota_report_interval_s), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        try:
            if credentials is None:
                port = server.add_insecure_port(settings.grpc_address)
            else:
                port = server.add_secure_port(settings.grpc_address, credentials)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {settings.grpc_address}: {exc}") from None
        await server.start()
        cleanup.push_async_callback(server.stop, None)
        # Campaign once serving, so the address we advertise answers.
        election = Election(
            store,
            settings.etcd_prefix,
            settings.advertised(port),
            ttl_s=settings.election_ttl_s,
            on_change=quota.leadership_changed,
        )
        quota.leadership = election
        election.start()
        cleanup.push_async_callback(election.stop)
        metrics = None
        if settings.metrics_address:
            host, metrics_port = parse_host_port(settings.metrics_address, "--metrics")
            metrics = await start_metrics_server(host, metrics_port, store.health, quota)
            cleanup.push_async_callback(metrics.cleanup)
        for name in ("", *SERVICE_NAMES):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        cleanup.pop_all()  # started: from now on ControlPlaneServer.stop owns the cleanup

    cp = ControlPlaneServer(
        server,
        store,
        publisher,
        usage_store,
        retention,
        usage_ingest,
        health_servicer,
        quota,
        election,
        admin_token,
        node_token,
        metrics,
    )
    return cp, port


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for every service on the port, or None (plaintext, e.g. `oggy up` on loopback)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        chain = settings.tls_cert.read_bytes()
        key = settings.tls_key.read_bytes()
    except OSError as exc:
        # The path, never the content.
        raise SettingsError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, chain)])


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


async def serve(settings: Settings) -> None:
    try:
        cp, port = await create_server(settings)
    except StoreUnavailable as exc:
        log.error("cannot reach etcd at %s: %s", settings.etcd, exc)
        raise SystemExit(1) from None
    except (KekMismatch, KeyringError, SettingsError, UsageStoreConfigError) as exc:
        # Messages name KEK ids and paths, never key material.
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None
    print(f"controlplane listening on {settings.grpc_host}:{port}", file=sys.stderr, flush=True)
    if cp.metrics_url:
        print(f"controlplane metrics on {cp.metrics_url}", file=sys.stderr, flush=True)
    try:
        await until_stop_signal()
        log.info("shutting down")
    finally:
        await cp.stop(settings.shutdown_grace_s)


def run(settings: Settings) -> None:
    _configure_logging()
    asyncio.run(serve(settings))
