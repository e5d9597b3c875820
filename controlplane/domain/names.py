"""Resource names: `workspaces/{w}` and `workspaces/{w}/{collection}/{id}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from controlplane.domain.errors import InvalidArgument

ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}")
# Signing key ids are JWT `kid`s chosen by whoever mints tokens: wider alphabet.
KID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
WORKSPACES = "workspaces"
PRICES = "prices"


class Collection(StrEnum):
    """Child collections of a workspace; the value is the name segment."""

    KEYS = "keys"
    ACTORS = "actors"
    PROVIDERS = "providers"
    POLICIES = "policies"
    SIGNING_KEYS = "signingKeys"
    ROUTES = "routes"
    PRICES = "prices"

    @property
    def id_pattern(self) -> re.Pattern[str]:
        return KID_PATTERN if self is Collection.SIGNING_KEYS else ID_PATTERN

    @property
    def id_rule(self) -> str:
        return "[A-Za-z0-9._-]{1,64}" if self is Collection.SIGNING_KEYS else "[a-z][a-z0-9-]{0,62}"


def validate_id(resource_id: str, field: str = "id", collection: Collection | None = None) -> str:
    pattern, rule = (collection.id_pattern, collection.id_rule) if collection else (ID_PATTERN, "")
    if not pattern.fullmatch(resource_id) or resource_id in (".", ".."):
        rule = rule or "[a-z][a-z0-9-]{0,62}"
        raise InvalidArgument(f"{field} must match {rule}, got {resource_id!r}")
    return resource_id


@dataclass(frozen=True, slots=True)
class WorkspaceName:
    workspace: str

    def __str__(self) -> str:
        return f"{WORKSPACES}/{self.workspace}"

    def child(self, collection: Collection, resource_id: str) -> ChildName:
        return ChildName(self.workspace, collection, resource_id)

    def collection_prefix(self, collection: Collection) -> str:
        """Name prefix of all children in `collection` (ends with `/`)."""
        return f"{self}/{collection.value}/"

    @property
    def children_prefix(self) -> str:
        return f"{self}/"


@dataclass(frozen=True, slots=True)
class ChildName:
    workspace: str
    collection: Collection
    resource_id: str

    def __str__(self) -> str:
        return f"{WORKSPACES}/{self.workspace}/{self.collection.value}/{self.resource_id}"

    @property
    def parent(self) -> WorkspaceName:
        return WorkspaceName(self.workspace)


def parse_workspace_name(name: str, field: str = "name") -> WorkspaceName:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != WORKSPACES or not ID_PATTERN.fullmatch(parts[1]):
        raise InvalidArgument(f"{field} must be workspaces/{{workspace}}, got {name!r}")
    return WorkspaceName(parts[1])


def parse_child_name(name: str, collection: Collection, field: str = "name") -> ChildName:
    parts = name.split("/")
    if (
        len(parts) != 4
        or parts[0] != WORKSPACES
        or parts[2] != collection.value
        or not ID_PATTERN.fullmatch(parts[1])
        or not collection.id_pattern.fullmatch(parts[3])
        or parts[3] in (".", "..")
    ):
        raise InvalidArgument(
            f"{field} must be workspaces/{{workspace}}/{collection.value}/{{id}}, got {name!r}"
        )
    return ChildName(parts[1], collection, parts[3])


def parse_any_name(name: str, field: str = "name") -> WorkspaceName | ChildName:
    """A workspace or any child name (used for references such as a policy target)."""
    if name.count("/") == 1:
        return parse_workspace_name(name, field)
    parts = name.split("/")
    if len(parts) == 4:
        try:
            collection = Collection(parts[2])
        except ValueError:
            pass
        else:
            return parse_child_name(name, collection, field)
    raise InvalidArgument(f"{field} is not a resource name: {name!r}")
