"""etcd endpoint flags (`http://host:port`) → (host, port). Pure, so settings can use it."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_ETCD_PORT = 2379


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """The first endpoint of a comma-separated list; `http://` may be omitted."""
    first = endpoint.split(",")[0].strip()
    try:
        parts = urlsplit(first if "://" in first else f"http://{first}")
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid etcd endpoint {endpoint!r}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"unsupported etcd endpoint {endpoint!r} (want http://host:port)")
    return parts.hostname, port or DEFAULT_ETCD_PORT
