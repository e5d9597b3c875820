"""The one grammar of resource names: `workspaces/{w}`, `workspaces/{w}/{collection}/{id}`
and catalog-wide `prices/{id}`. The admin API, the publisher and the data plane's
compiler all parse names here, so a name one accepts the others accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ID_RULE = "[a-z][a-z0-9-]{0,62}"
# Signing key ids are JWT `kid`s chosen by whoever mints tokens: wider alphabet.
KID_RULE = "[A-Za-z0-9._-]{1,64}"
ID_PATTERN = re.compile(ID_RULE)
KID_PATTERN = re.compile(KID_RULE)
WORKSPACES = "workspaces"
PRICES = "prices"


class InvalidName(ValueError):
    """A resource name or id does not follow the grammar; the message says which rule."""


class Collection(StrEnum):
    """Child collections of a workspace; the value is the name segment."""

    KEYS = "keys"
    ACTORS = "actors"
    PROVIDERS = "providers"
    POLICIES = "policies"
    SIGNING_KEYS = "signingKeys"
    ROUTES = "routes"
    PRICES = "prices"
    LIMITS = "limits"
    BUDGETS = "budgets"

    @property
    def id_pattern(self) -> re.Pattern[str]:
        return KID_PATTERN if self is Collection.SIGNING_KEYS else ID_PATTERN

    @property
    def id_rule(self) -> str:
        return KID_RULE if self is Collection.SIGNING_KEYS else ID_RULE

    def valid_id(self, resource_id: str) -> bool:
        return bool(self.id_pattern.fullmatch(resource_id)) and resource_id not in (".", "..")


def validate_id(resource_id: str, field: str = "id", collection: Collection | None = None) -> str:
    collection = collection or Collection.KEYS
    if not collection.valid_id(resource_id):
        raise InvalidName(f"{field} must match {collection.id_rule}, got {resource_id!r}")
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
        raise InvalidName(f"{field} must be workspaces/{{workspace}}, got {name!r}")
    return WorkspaceName(parts[1])


# One regex per collection: names are parsed for every resource of every compile.
_CHILD_PATTERNS = {
    c: re.compile(rf"{WORKSPACES}/({ID_RULE})/{re.escape(c.value)}/({c.id_rule})")
    for c in Collection
}


def parse_child_name(name: str, collection: Collection, field: str = "name") -> ChildName:
    m = _CHILD_PATTERNS[collection].fullmatch(name)
    if m is None or m.group(2) in (".", ".."):
        raise InvalidName(
            f"{field} must be workspaces/{{workspace}}/{collection.value}/{{id}}, got {name!r}"
        )
    return ChildName(m.group(1), collection, m.group(2))


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
    raise InvalidName(f"{field} is not a resource name: {name!r}")


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """What a name in a snapshot denotes: its collection (None for a workspace) and its
    workspace name (`workspaces/{w}`; "" for a catalog-wide price)."""

    collection: Collection | None
    workspace: str


def classify(name: str) -> ResourceRef | None:
    """Any resource name a snapshot carries, or None when it follows no rule."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == PRICES and ID_PATTERN.fullmatch(parts[1]):
        return ResourceRef(Collection.PRICES, "")
    try:
        parsed = parse_any_name(name)
    except InvalidName:
        return None
    if isinstance(parsed, WorkspaceName):
        return ResourceRef(None, str(parsed))
    return ResourceRef(parsed.collection, str(parsed.parent))


def workspace_of(name: str, collection: Collection) -> str:
    """`workspaces/{w}` of a child name in `collection`; raises InvalidName."""
    return str(parse_child_name(name, collection).parent)


def claimed_workspace(name: str) -> str | None:
    """The `workspaces/{w}` that `name` places itself under, valid or not; None when it
    names no workspace. Not a check: it says whose problem a malformed name is."""
    parts = name.split("/", 2)
    if len(parts) >= 2 and parts[0] == WORKSPACES and parts[1]:
        return f"{WORKSPACES}/{parts[1]}"
    return None
