"""Token counts from a provider's `usage` object, defensively. Pure.

Providers (and OpenAI-compatible servers) are inconsistent: fields go missing,
come back null, as strings, floats, negatives or nonsense. A missing or null
field is absent (embeddings have no completion count); a present one that is
not an int in [0, 10^9] is *unusable*, and so is a set of parts that does not
add up to the total. Unusable figures are never silently read as 0: the Usage
says what was wrong (`anomalies`), settlement then falls back to the tokenizer
estimate and flags the event. An unusable cached/reasoning count is left
unknown (None) and flagged; the main counts stay the provider's.

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

# Anomaly kinds (UsageEvent.anomalies) a provider's usage object can have.
USAGE_MALFORMED = "usage_malformed"  # a main count present but not a plausible int
USAGE_INCONSISTENT = "usage_inconsistent"  # prompt + completion != total
USAGE_DETAIL_MALFORMED = "usage_detail_malformed"  # a cached/reasoning/cache-write count
# Main figures that cannot be billed from: settlement estimates instead.
UNUSABLE = frozenset({USAGE_MALFORMED, USAGE_INCONSISTENT})


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cache_creation_tokens: int | None = None
    # What was wrong with the figures these came from (unusable parts read as 0).
    anomalies: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Whether the main counts can be billed as the provider's."""
        return UNUSABLE.isdisjoint(self.anomalies)

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


def plausible(v: Any) -> bool:
    # bool is an int subclass; `true` is not a token count.
    return type(v) is int and 0 <= v <= MAX_TOKENS


class Reader:
    """Reads the counts of one usage object, remembering which were present but unusable."""

    __slots__ = ("bad_detail", "bad_main", "obj")

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self.bad_main = False
        self.bad_detail = False

    def main(self, name: str) -> int | None:
        v = self.obj.get(name)
        if v is None or plausible(v):
            return v
        self.bad_main = True
        return None

    def detail(self, name: str, details: str | None = None) -> int | None:
        """`obj[name]`, or `obj[details][name]` (a `*_tokens_details` object)."""
        d = self.obj.get(details) if details is not None else self.obj
        v = d.get(name) if isinstance(d, dict) else None
        if v is None or plausible(v):
            return v
        self.bad_detail = True
        return None

    def usage(
        self,
        prompt: int | None,
        completion: int | None,
        total: int | None,
        *,
        cached: int | None = None,
        reasoning: int | None = None,
        cache_creation: int | None = None,
        base: tuple[str, ...] = (),
    ) -> Usage | None:
        """None when no main count was given at all; a missing total is the sum of the parts.

        `base`: anomalies already found in earlier figures of the same response (a stream).
        """
        anomalies = list(base)
        if self.bad_main:
            anomalies.append(USAGE_MALFORMED)
        elif None not in (prompt, completion, total) and prompt + completion != total:  # type: ignore[operator]
            anomalies.append(USAGE_INCONSISTENT)
        if self.bad_detail:
            anomalies.append(USAGE_DETAIL_MALFORMED)
        if prompt is None and completion is None and total is None and not self.bad_main:
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
            anomalies=tuple(dict.fromkeys(anomalies)),
        )


# Where an OpenAI-style usage object keeps its counts: (prompt, completion, total,
# prompt details, completion details). Chat/completions/embeddings name them so;
# the Responses API says input/output (providers.openai).
CHAT_USAGE_NAMES = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
)


def extract_usage(usage: Any, names: tuple[str, ...] = CHAT_USAGE_NAMES) -> Usage | None:
    """Counts from an OpenAI-style `usage` object whose fields are called `names`."""
    if not isinstance(usage, dict):
        return None
    prompt, completion, total, prompt_details, completion_details = names
    r = Reader(usage)
    return r.usage(
        r.main(prompt),
        r.main(completion),
        r.main(total),
        cached=r.detail("cached_tokens", prompt_details),
        reasoning=r.detail("reasoning_tokens", completion_details),
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
