"""The data plane's gRPC channel to the control plane, shared by config and usage."""

from __future__ import annotations

import grpc

# grpc's own reconnect backoff defaults to 1 s → 120 s, which would keep a data
# plane away from a restarted control plane for minutes; align it with ours.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # Snapshots with many keys can be large.
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
)


def open_channel(address: str) -> grpc.aio.Channel:
    # TLS is not supported yet; the node token travels in clear on the wire.
    return grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)


def auth_metadata(node_token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {node_token}"),)
