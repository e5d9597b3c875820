"""Names a snapshot carries, read with the one grammar (oggy.contract.names).

This is the compile boundary for names: a name that breaks the grammar
(InvalidName) becomes a ConfigError here, so a name the admin API accepts is
a name every data plane accepts.
"""

from __future__ import annotations

from oggy.contract.compile.model import ConfigError
from oggy.contract.names import (
    ChildName,
    Collection,
    InvalidName,
    WorkspaceName,
    parse_any_name,
    parse_child_name,
    parse_workspace_name,
)


def workspace(name: str) -> WorkspaceName:
    try:
        return parse_workspace_name(name, "workspace name")
    except InvalidName as e:
        raise ConfigError(str(e)) from None


def child(name: str, collection: Collection, field: str) -> ChildName:
    """`name` as a child in `collection`; `field` says what the name is (`key name`)."""
    try:
        return parse_child_name(name, collection, field)
    except InvalidName as e:
        raise ConfigError(str(e)) from None


def reference(name: str, collection: Collection, in_workspace: str, field: str) -> ChildName:
    """A reference from one resource to another in the same workspace (a key's actor,
    a route target's provider); `field` names the referring resource and field."""
    ref = child(name, collection, field)
    if str(ref.parent) != in_workspace:
        raise ConfigError(f"{field} {name!r} is not in {in_workspace}")
    return ref


def any_name(name: str, field: str) -> WorkspaceName | ChildName:
    try:
        return parse_any_name(name, field)
    except InvalidName as e:
        raise ConfigError(str(e)) from None
