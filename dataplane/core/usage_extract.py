"""Token counts from a provider's `usage` object, defensively. Pure.

Providers (and OpenAI-compatible servers) are inconsistent: fields go missing,
come back null, as strings, floats, negatives or nonsense. A value that is not
an int in [0, 10^9] is treated as absent; an explicit 0 stays 0; `total_tokens`
is recomputed from the parts when absent.

`Usage` is the one normalised shape every wire format is mapped to (see
dataplane/providers/): `prompt_tokens` counts every input token the request
processed — cache reads and cache writes included, as OpenAI counts them — so
`prompt_tokens - cached_tokens - cache_creation_tokens` is the uncached input.
`completion_tokens` includes `reasoning_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oggy.contract.pricing import TokenCounts

# More tokens than any single request can carry: a broken or hostile count.
MAX_TOKENS = 10**9


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_creation_tokens: int | None = None

    def token_counts(self) -> TokenCounts:
        """The disjoint billing classes of pricing.TokenCounts."""
        cached = self.cached_tokens or 0
        written = self.cache_creation_tokens or 0
        return TokenCounts(
            input=max(self.prompt_tokens - cached - written, 0),
            cached_input=cached,
            cache_write=written,
            output=self.completion_tokens,
            reasoning=min(self.reasoning_tokens or 0, self.completion_tokens),
        )


def count(v: Any) -> int | None:
    """A token count, or None when `v` is not a plausible one."""
    # bool is an int subclass; `true` is not a token count.
    if type(v) is int and 0 <= v <= MAX_TOKENS:
        return v
    return None


def detail(obj: Any, details: str, name: str) -> int | None:
    d = obj.get(details)
    return count(d.get(name)) if isinstance(d, dict) else None


def make_usage(
    prompt: int | None,
    completion: int | None,
    total: int | None,
    *,
    cached: int | None = None,
    reasoning: int | None = None,
    cache_creation: int | None = None,
) -> Usage | None:
    """None when no main count is usable; a missing total is the sum of the parts."""
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
        cache_creation_tokens=cache_creation,
    )


def extract_usage(usage: Any) -> Usage | None:
    """Counts from an OpenAI chat/completions/embeddings `usage` object."""
    if not isinstance(usage, dict):
        return None
    return make_usage(
        count(usage.get("prompt_tokens")),
        count(usage.get("completion_tokens")),
        count(usage.get("total_tokens")),
        cached=detail(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning=detail(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def error_code(body: Any) -> str | None:
    """`error.code`, else `error.type`, of an OpenAI- or Anthropic-style error object."""
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
