"""The text parts of OpenAI-shaped `choices`: message or delta content and tool-call args.

Shared by the OpenAI wire format (reported text) and the token estimate (stream text).
"""

from __future__ import annotations

from typing import Any


def choices(body: Any) -> list[dict[str, Any]]:
    """The well-formed (dict) entries of `body["choices"]`; none when it has no such list."""
    found = body.get("choices") if isinstance(body, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def message_parts(message: Any, parts: list[str]) -> None:
    """Append a message's (or delta's) string content, then each tool call's arguments."""
    if not isinstance(message, dict):
        return
    if isinstance(message.get("content"), str):
        parts.append(message["content"])
    for call in message.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            parts.append(fn["arguments"])
