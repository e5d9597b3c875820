"""Anthropic: the Messages API (`POST /v1/messages`), its URL, auth and usage.

Usage: `input_tokens` EXCLUDES cache reads (`cache_read_input_tokens`) and
cache writes (`cache_creation_input_tokens`). Normalised to Usage, the prompt
is all three (as OpenAI counts prompts), `cached_tokens` the reads and
`cache_creation_tokens` the writes. Streams carry usage in `message_start`
(input side, a first output count) and `message_delta` (cumulative output;
newer API versions repeat the input side there too).
"""

from __future__ import annotations

from typing import Any

from dataplane.core.usage_extract import Reader, Usage
from dataplane.providers.base import WireFormat
from oggy.contract.dialects import ANTHROPIC_FAMILY

_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def extract_usage(usage: Any, base: Usage | None = None) -> Usage | None:
    """Normalised counts from an Anthropic `usage` object; fields it lacks come from `base`."""
    if not isinstance(usage, dict):
        return base
    r = Reader(usage)
    plain = r.main("input_tokens")
    output = r.main("output_tokens")
    # Cache reads and writes are part of the prompt: as main as input_tokens.
    read = r.main("cache_read_input_tokens")
    written = r.main("cache_creation_input_tokens")
    if base is not None:
        base_read, base_written = base.cached_tokens, base.cache_creation_tokens
        if plain is None:
            plain = base.prompt_tokens - (base_read or 0) - (base_written or 0)
        read = base_read if read is None else read
        written = base_written if written is None else written
        output = base.completion_tokens if output is None else output
    if plain is None and read is None and written is None:
        prompt = None
    else:
        prompt = (plain or 0) + (read or 0) + (written or 0)
    found = r.usage(
        prompt,
        output,
        None,
        cached=read,
        cache_creation=written,
        base=base.anomalies if base is not None else (),
    )
    return found or base


def messages_usage(body: Any) -> Usage | None:
    return extract_usage(body.get("usage")) if isinstance(body, dict) else None


def observe(obj: dict[str, Any], current: Usage | None) -> tuple[Usage | None, bool]:
    kind = obj.get("type")
    if kind == "message_start":
        message = obj.get("message")
        if isinstance(message, dict):
            return extract_usage(message.get("usage"), current), False
    elif kind == "message_delta":
        return extract_usage(obj.get("usage"), current), False
    return current, False


def messages_text(body: Any) -> str:
    content = body.get("content") if isinstance(body, dict) else None
    parts: list[str] = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict):
            if isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif block.get("type") == "tool_use" and block.get("input") is not None:
                parts.append(str(block["input"]))
    return "".join(parts)


def stream_text(obj: dict[str, Any]) -> str:
    if obj.get("type") != "content_block_delta":
        return ""
    delta = obj.get("delta")
    if not isinstance(delta, dict):
        return ""
    for name in ("text", "partial_json", "thinking"):
        if isinstance(delta.get(name), str):
            return delta[name]
    return ""


MESSAGES = WireFormat(
    "messages", ANTHROPIC_FAMILY, messages_usage, observe, messages_text, stream_text
)
