"""Where things live in the key/value store, under one prefix (default `/oggy/`).

`<prefix><resource name>` holds the resource; provider secrets sit outside the
`workspaces/` tree so a watch on it never carries ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass

from oggy.contract.names import WORKSPACES


@dataclass(frozen=True, slots=True)
class Layout:
    prefix: str = "/oggy/"

    def __post_init__(self) -> None:
        if not self.prefix.endswith("/"):
            raise ValueError("store prefix must end with '/'")

    def resource(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def name_of(self, key: str) -> str:
        return key[len(self.prefix) :]

    @property
    def workspaces(self) -> str:
        return f"{self.prefix}{WORKSPACES}/"

    def secret(self, name: str) -> str:
        return f"{self.prefix}secrets/{name}"

    def request(self, request_id: str) -> str:
        return f"{self.prefix}requests/{request_id}"

    def key_index(self, key_id: str) -> str:
        return f"{self.prefix}index/keys/{key_id}"

    @property
    def secrets(self) -> str:
        return f"{self.prefix}secrets/"

    @property
    def catalog_prices(self) -> str:
        """Catalog-wide prices (`prices/{id}`); workspace overrides sit under workspaces/."""
        return f"{self.prefix}prices/"

    @property
    def audit_events(self) -> str:
        return f"{self.prefix}audit/"

    def audit(self, event_id: str) -> str:
        return f"{self.prefix}audit/{event_id}"

    @property
    def prices_seeded(self) -> str:
        """Set once the default catalog was written, so deleting every price sticks."""
        return f"{self.prefix}index/prices-seeded"
