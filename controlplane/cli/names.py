"""Resource names as the user types them: short ids, full names, or gateway key text.

The server validates names too; checking here gives a clear message before any network
call, and lets every command accept `demo` and `workspaces/demo` alike.
"""

from __future__ import annotations

import re

from controlplane.cli.errors import CliError
from oggy.contract.names import ID_PATTERN

# `oggy_<env>_<keyid>` with or without the `_<secret>` tail.
_KEY_TEXT = re.compile(r"oggy_[a-z]{1,16}_([a-z][a-z0-9]*)(?:_[A-Za-z0-9]+)?")


def workspace_name(value: str) -> str:
    """`demo` or `workspaces/demo` → `workspaces/demo`."""
    text = value.strip()
    resource_id = text.removeprefix("workspaces/")
    if not ID_PATTERN.fullmatch(resource_id):
        raise CliError(
            f"invalid workspace {value!r}: expected an id like 'demo' "
            "([a-z][a-z0-9-]{0,62}) or 'workspaces/demo'"
        )
    return f"workspaces/{resource_id}"


def child_name(workspace: str, collection: str, value: str) -> str:
    """A key/actor/provider/policy given as an id or a full name → the full name.

    A full name must belong to `workspace`, so a command never acts outside the
    workspace it was pointed at.
    """
    parent = workspace_name(workspace)
    text = value.strip()
    if "/" in text:
        prefix = f"{parent}/{collection}/"
        if not text.startswith(prefix):
            raise CliError(f"{text!r} is not a {collection} name in {parent}")
        text = text.removeprefix(prefix)
    if not ID_PATTERN.fullmatch(text):
        raise CliError(f"invalid {collection} id {value!r}: expected [a-z][a-z0-9-]{{0,62}}")
    return f"{parent}/{collection}/{text}"


def key_name(workspace: str, value: str) -> str:
    """Like child_name for keys, also accepting the key text or its `oggy_<env>_<id>` prefix."""
    match = _KEY_TEXT.fullmatch(value.strip())
    if match:
        return child_name(workspace, "keys", match.group(1))
    return child_name(workspace, "keys", value)


def key_id_from_text(key_text: str) -> str | None:
    """The key id inside gateway key text, or None if the text is not a key."""
    match = _KEY_TEXT.fullmatch(key_text.strip())
    return match.group(1) if match else None


def short_id(name: str) -> str:
    """The last segment of a resource name, for compact tables."""
    return name.rsplit("/", 1)[-1]
