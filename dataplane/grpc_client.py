"""The data plane's gRPC channel to the control plane, shared by config and usage.

With `--tls-ca` the channel is TLS, verifying the control plane's certificate against
that CA (and, with `--tls-server-name`, against that name instead of the host), so the
node token and the provider secrets in config travel encrypted. Without it the
channel is plaintext: fine on loopback (`oggy up`), not across a network.
"""

from __future__ import annotations

import grpc

from dataplane.settings import Settings, SettingsError

# grpc's own reconnect backoff defaults to 1 s → 120 s, which would keep a data
# plane away from a restarted control plane for minutes; align it with ours.
_CHANNEL_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # Snapshots with many keys can be large.
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
)


def open_channel(settings: Settings) -> grpc.aio.Channel:
    """A channel to `settings.control_plane`, TLS when `settings.tls_ca` is set."""
    if settings.tls_ca is None:
        return grpc.aio.insecure_channel(settings.control_plane, options=_CHANNEL_OPTIONS)
    options = _CHANNEL_OPTIONS
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
