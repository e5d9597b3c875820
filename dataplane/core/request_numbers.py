"""Bounds on the integers a client sends in a request body. Pure.

Every integer a body carries ends up somewhere: forwarded to a provider, put in
a usage event (int64 / int32 fields), compared with a policy cap. An integer
past what any provider accepts is hostile or a bug, so it is refused with a
400 naming the field before anything else happens. The ranges are generous
where providers differ (OpenAI-compatible servers accept more `top_logprobs`
than OpenAI does); what they rule out is a value no request can mean.

One table for every endpoint: a field an endpoint does not have is simply
absent from its bodies. `null` means "not given" everywhere, as OpenAI treats it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dataplane.core.usage_extract import MAX_TOKENS
from oggy.contract import errors

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IntField:
    lo: int
    hi: int
    # `logprobs` is a boolean on chat completions and an integer on legacy completions.
    bool_ok: bool = False


_TOKENS = IntField(0, MAX_TOKENS)
# Top-level body fields, by name (chat, completions, embeddings, responses, Anthropic).
FIELDS: Mapping[str, IntField] = {
    "max_tokens": _TOKENS,
    "max_completion_tokens": _TOKENS,
    "max_output_tokens": _TOKENS,
    "n": IntField(1, 128),
    "best_of": IntField(1, 128),
    "logprobs": IntField(0, 100, bool_ok=True),
    "top_logprobs": IntField(0, 100),
    "seed": IntField(INT64_MIN, INT64_MAX),
    "dimensions": IntField(1, 65_536),
    "top_k": IntField(-1, 1_000_000),  # vLLM's -1 = no limit
    "max_tool_calls": IntField(0, 10_000),
}
# Fields of a nested object: (object, field) → bounds.
NESTED: Mapping[tuple[str, str], IntField] = {
    ("thinking", "budget_tokens"): _TOKENS,  # Anthropic extended thinking
}


def check_integers(body: Mapping[str, Any]) -> None:
    """Raise InvalidRequest (with `param`) for the first integer field out of its range."""
    for name, bounds in FIELDS.items():
        value = body.get(name)
        if value is not None:
            _check(name, value, bounds)
    for (outer, name), bounds in NESTED.items():
        obj = body.get(outer)
        if isinstance(obj, dict) and (value := obj.get(name)) is not None:
            _check(f"{outer}.{name}", value, bounds)


def _check(param: str, value: Any, bounds: IntField) -> None:
    if type(value) is bool:
        if bounds.bool_ok:
            return
    elif type(value) is int and bounds.lo <= value <= bounds.hi:
        return
    raise errors.InvalidRequest(
        f"`{param}` must be an integer from {bounds.lo} to {bounds.hi}.", param=param
    )
