"""Token counts from an OpenAI-style `usage` object, defensively.

Providers (and OpenAI-compatible servers) are inconsistent: fields go missing,
come back null, as strings, floats or negatives. A value that is not a
non-negative int is treated as absent; an explicit 0 stays 0; `total_tokens`
is recomputed from the parts when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


def _count(v: Any) -> int | None:
    # bool is an int subclass; `true` is not a token count.
    if type(v) is int and v >= 0:
        return v
    return None


def _detail(obj: Any, details: str, name: str) -> int | None:
    d = obj.get(details)
    return _count(d.get(name)) if isinstance(d, dict) else None


def extract_usage(usage: Any) -> Usage | None:
    """Counts from a `usage` object; None when it carries no usable count."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    total = _count(usage.get("total_tokens"))
    cached = _detail(usage, "prompt_tokens_details", "cached_tokens")
    reasoning = _detail(usage, "completion_tokens_details", "reasoning_tokens")
    if prompt is None and completion is None and total is None:
        return None
    if total is None:
        total = (prompt or 0) + (completion or 0)
    return Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        total_tokens=total,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )


def usage_from_response(body: Any) -> Usage | None:
    """Counts from a chat completion object or a stream chunk."""
    if not isinstance(body, dict):
        return None
    return extract_usage(body.get("usage"))


def error_code(body: Any) -> str | None:
    """`error.code`, else `error.type`, of an OpenAI-style error object, if any."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if not isinstance(err, dict):
        return None
    for field in ("code", "type"):
        v = err.get(field)
        if isinstance(v, str) and v:
            return v[:64]
        if type(v) is int:  # some servers put the HTTP status there
            return str(v)
    return None
