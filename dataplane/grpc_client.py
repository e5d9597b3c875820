"""The data plane's gRPC channel to the control plane, shared by config and usage.

With `--tls-ca` the channel is TLS, verifying the control plane's certificate against
that CA (and, with `--tls-server-name`, against that name instead of the host), so the
node token and the provider secrets in config travel encrypted. Without it the
channel is plaintext: fine on loopback (`oggy up`), not across a network.
"""

from __future__ import annotations

from importlib import metadata

import grpc

from dataplane.settings import Settings, SettingsError
from oggy.v1 import config_service_pb2

# Snapshots with many keys can be large.
MAX_RECEIVE_BYTES = 256 * 1024 * 1024


def channel_options(settings: Settings) -> tuple[tuple[str, int | str], ...]:
    """gRPC options of the channel to the control plane."""
    return (
        # gRPC's own reconnect backoff grows from 1 s to 120 s, which would keep a data
        # plane away from a restarted control plane for minutes. This is the one backoff
        # between a network that heals and streams that resume: the config and usage
        # clients wait for the channel (wait_for_ready) instead of adding their own.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", _ms(settings.reconnect_backoff_max_s)),
        # (gRPC core uses this one as the least time it gives a connection attempt.)
        ("grpc.min_reconnect_backoff_ms", 1000),
        # A connection that silently stopped carrying packets gives no error by itself:
        # an unanswered ping closes it, and the streams move to a new one.
        ("grpc.keepalive_time_ms", _ms(settings.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(settings.keepalive_timeout_s)),
        # gRPC 1.85 times a keepalive ping out after this one, not keepalive_timeout_ms.
        ("grpc.http2.ping_timeout_ms", _ms(settings.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),
        # The config stream is quiet between changes; keep pinging through the lull.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def open_channel(settings: Settings) -> grpc.aio.Channel:
    """A channel to `settings.control_plane`, TLS when `settings.tls_ca` is set."""
    options = channel_options(settings)
    if settings.tls_ca is None:
        return grpc.aio.insecure_channel(settings.control_plane, options=options)
    if settings.tls_server_name:
        options = (*options, ("grpc.ssl_target_name_override", settings.tls_server_name))
    return grpc.aio.secure_channel(
        settings.control_plane, channel_credentials(settings), options=options
    )


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials:
    assert settings.tls_ca is not None
    try:
        ca = settings.tls_ca.read_bytes()
    except OSError as e:
        raise SettingsError(f"cannot read --tls-ca {settings.tls_ca}: {e.strerror}") from None
    return grpc.ssl_channel_credentials(root_certificates=ca)


def auth_metadata(node_token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {node_token}"),)


def node_of(settings: Settings) -> config_service_pb2.Node:
    """Who this data plane is, as the first message of each of its streams says."""
    return config_service_pb2.Node(
        id=settings.node_id, hostname=settings.hostname, version=_version()
    )


def _version() -> str:
    try:
        return metadata.version("oggy")
    except metadata.PackageNotFoundError:
        return "0.0.0"
