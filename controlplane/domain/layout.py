"""Where things live in the key/value store, under one prefix (default `/oggy/`).

`<prefix><resource name>` holds the resource; provider secrets sit outside the
`workspaces/` tree so a watch on it never carries ciphertext.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oggy.contract.names import WORKSPACES


def _key_under(area: str) -> Callable[[Layout, str], str]:
    """A Layout method: the store key of one entry (a secret, a request id...) in `area`."""

    def key(layout: Layout, entry: str) -> str:
        return f"{layout.prefix}{area}{entry}"

    return key


def _area(area: str, doc: str | None = None) -> property:
    """A Layout property: the store key of `area` itself (a subtree or a single key)."""
    return property(lambda layout: f"{layout.prefix}{area}", doc=doc)


@dataclass(frozen=True, slots=True)
class Layout:
    prefix: str = "/oggy/"

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/"):
            raise ValueError("store prefix must end with '/'")

    resource = _key_under("")

    def name_of(self, key: str) -> str:
        return key[len(self.prefix) :]

    workspaces = _area(f"{WORKSPACES}/")
    secrets = _area("secrets/")
    secret = _key_under("secrets/")
    request = _key_under("requests/")
    key_index = _key_under("index/keys/")
    catalog_prices = _area(
        "prices/", "Catalog-wide prices (`prices/{id}`); workspace overrides sit under workspaces/."
    )
    audit_events = _area("audit/")
    audit = _key_under("audit/")
    prices_seeded = _area(
        "index/prices-seeded",
        "Set once the default catalog was written, so deleting every price sticks.",
    )
