"""Small pieces several commands share: request ids, deletes, secrets from env/stdin, paging."""

from __future__ import annotations

import getpass
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from controlplane.cli import output
from controlplane.cli.admin_client import list_all
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError

MAX_PAGE = 1000
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def request_id() -> str:
    """A fresh idempotency token for a Create call."""
    return str(uuid.uuid4())


def kind_label(kinds: EnumTypeWrapper, kind: int) -> str:
    """A `KIND_` enum value as the CLI spells it: KIND_AZURE_OPENAI → `azure-openai`."""
    return kinds.Name(kind).removeprefix("KIND_").lower().replace("_", "-")


def kind_choices(kinds: EnumTypeWrapper) -> dict[str, int]:
    """Every kind but UNSPECIFIED, by its CLI spelling, in the order the proto declares them."""
    return {kind_label(kinds, value): value for _, value in kinds.items() if value}


def emit_all(
    ctx: Context, method: Any, request: Any, field: str, columns: Sequence[output.Column]
) -> int:
    """Print every page of a List RPC (`field` holds the items) as one table or array."""
    output.emit(ctx.format, list_all(method, request, field), columns)
    return 0


def print_deleted(ctx: Context, name: str) -> None:
    if ctx.format == "json":
        output.write_json({"name": name, "deleted": True})
    else:
        print(f"deleted {name}")


def read_secret(
    env_var: str | None,
    env: Mapping[str, str],
    *,
    what: str,
    flag: str,
    stdin: TextIO | None = None,
    example: str = "MY_SECRET",
    prompt: str = "",
) -> str:
    """A secret from `$env_var`, else stdin (no echo on a terminal). Never printed or echoed.

    `example` is the variable name suggested when `flag` was given a value instead;
    `prompt` the terminal prompt (default: `what`, capitalized).
    """
    if env_var:
        if not _ENV_NAME.fullmatch(env_var):
            # Not echoed: this is where a pasted secret would land by mistake.
            raise CliError(f"{flag} takes a variable NAME (e.g. {example}), not the {what}")
        value = env.get(env_var, "").strip()
        if not value:
            raise CliError(f"${env_var} is not set or empty")
        return value
    stdin = stdin or sys.stdin
    if stdin.isatty():
        prompt = prompt or f"{what[:1].upper()}{what[1:]}"
        value = getpass.getpass(f"{prompt} (input hidden): ").strip()
    else:
        value = stdin.read().strip()
    if not value:
        raise CliError(f"no {what}: pipe it on stdin or pass {flag} VAR")
    if any(c.isspace() for c in value):
        raise CliError(f"the {what} must be one line without spaces")
    return value


def check_limit(limit: int) -> int:
    if limit <= 0:
        raise CliError("--limit must be positive")
    return limit


def list_up_to(method: Callable[[Any], Any], request: Any, field: str, limit: int) -> list[Any]:
    """Call a List RPC page by page until `limit` items or the last page."""
    items: list[Any] = []
    request.page_size = min(limit, MAX_PAGE)
    while len(items) < limit:
        response = method(request)
        items.extend(getattr(response, field))
        if not response.next_page_token:
            break
        request.page_token = response.next_page_token
        request.page_size = min(limit - len(items), MAX_PAGE)
    return items[:limit]
