"""Names a snapshot carries, read with the one grammar (oggy.contract.names).

This is the compile boundary for names: a name that breaks the grammar
(InvalidName) becomes a ConfigError here, so a name the admin API accepts is
a name every data plane accepts.
"""

from __future__ import annotations

from oggy.contract import names
from oggy.contract.compile.model import ConfigError


def workspace(name: str) -> names.WorkspaceName:
    try:
        return names.parse_workspace_name(name, "workspace name")
    except names.InvalidName as e:
        raise ConfigError(str(e)) from None


def child(name: str, collection: names.Collection, field: str) -> names.ChildName:
    """`name` as a child in `collection`; `field` says what the name is (`key name`)."""
    try:
        return names.parse_child_name(name, collection, field)
    except names.InvalidName as e:
        raise ConfigError(str(e)) from None


def reference(
    name: str, collection: names.Collection, in_workspace: str, field: str
) -> names.ChildName:
    """A reference from one resource to another in the same workspace (a key's actor,
    a route target's provider); `field` names the referring resource and field."""
    ref = child(name, collection, field)
    if str(ref.parent) != in_workspace:
        raise ConfigError(f"{field} {name!r} is not in {in_workspace}")
    return ref


def any_name(name: str, field: str) -> names.WorkspaceName | names.ChildName:
    try:
        return names.parse_any_name(name, field)
    except names.InvalidName as e:
        raise ConfigError(str(e)) from None
