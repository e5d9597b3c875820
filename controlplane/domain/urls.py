"""Provider base URLs: well-formed, and not pointed somewhere a gateway must never call.

A provider credential makes the data plane send requests — with the provider API
key attached — to its base URL. Without a check, anyone with admin rights (or a
typo) could aim it at cloud metadata (`169.254.169.254`) or an internal service.
Rules, on create and on update:
- scheme http or https, a host, no user info (credentials belong in `api_key`,
  where they are encrypted), no fragment, no whitespace;
- never: link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata lives
  there), the unspecified address, multicast, or the metadata host names;
- loopback and private ranges (127.0.0.0/8, ::1, RFC 1918, fc00::/7, and the
  shared CGNAT range) only with `allow_private_network` — a local model server.

Only literal addresses are checked: resolving names here would not stop DNS
rebinding anyway (the data plane resolves at connect time).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from controlplane.domain.errors import InvalidArgument

# Host names that resolve to the cloud instance metadata service.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})

_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)
_PRIVATE_V6 = tuple(ipaddress.ip_network(n) for n in ("fc00::/7", "::1/128"))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Legacy IPv4 spellings (`2130706433`, `0x7f.1`, `127.1`) that resolvers still accept.
_LEGACY_V4 = re.compile(r"[0-9a-fx.]+")


def _literal_ip(host: str) -> Address | None:
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        if not _LEGACY_V4.fullmatch(host):
            return None
        try:  # inet_aton parses, it never resolves
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return addr


def _never_allowed(addr: Address) -> str | None:
    if addr.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    return None


def _is_private(addr: Address) -> bool:
    networks = _PRIVATE_V4 if isinstance(addr, ipaddress.IPv4Address) else _PRIVATE_V6
    return any(addr in n for n in networks) or addr.is_loopback or addr.is_private


def validate_base_url(value: str, allow_private_network: bool = False) -> str:
    """`value` if it is an acceptable provider base URL; raises InvalidArgument.

    Messages never echo the URL: it might carry credentials by mistake.
    """
    if not value:
        raise InvalidArgument("base_url is required")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument("base_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a non-numeric or out-of-range port
        hostname = parts.hostname
    except ValueError:
        raise InvalidArgument("base_url is not a valid URL") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument("base_url must use http or https")
    if "@" in parts.netloc:
        raise InvalidArgument("base_url must not contain user info (put the key in api_key)")
    if not hostname:
        raise InvalidArgument("base_url needs a host")
    if parts.fragment or value.endswith("#"):
        raise InvalidArgument("base_url must not have a fragment")
    host = hostname.rstrip(".").lower()
    if host in METADATA_HOSTS:
        raise InvalidArgument("base_url must not point at a cloud metadata service")
    addr = _literal_ip(host)
    if addr is None:
        if host == "localhost" or host.endswith(".localhost"):
            addr = ipaddress.ip_address("127.0.0.1")
        else:
            return value
    reason = _never_allowed(addr)
    if reason is not None:
        raise InvalidArgument(f"base_url must not point at {reason}")
    if _is_private(addr) and not allow_private_network:
        raise InvalidArgument(
            "base_url points at a loopback or private address; "
            "set allow_private_network to allow it"
        )
    return value
