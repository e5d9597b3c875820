"""What one admitted request costs each kind of quota rule, before it runs. Pure.

- requests and concurrency: 1;
- tokens: the prompt's estimate (OpenAI's recipe, estimate.prompt_tokens, with the
  tokenizer injected) plus the output bound: the request's own max tokens, else
  DEFAULT_OUTPUT_BOUND, which the forwarded request is then capped at so that what
  was reserved holds;
- spend (micro-USD): the most expensive of the request's targets (a fallback may
  serve it) at that target's prices, for the prompt estimate and the output bound;
  None when a target has no price (never a silent $0).

Pass-through requests (`/v1/*`) have no body to estimate from: they reserve 0 tokens
and $0, and settle to what their response reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from dataplane.core.admission import Requested
from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import Count, prompt_tokens
from oggy.contract.compile import CompiledProvider
from oggy.contract.price_book import PriceBook
from oggy.contract.pricing import TokenCounts
from oggy.contract.routing import Target

# Output tokens reserved for a request that names no bound of its own (and the bound it
# is then forwarded with). Neither the price catalog nor the contract lists a maximum
# output per model; 4096 is what most chat models answered with by default.
DEFAULT_OUTPUT_BOUND = 4096


class Estimate(NamedTuple):
    request: Requested  # as it will be forwarded (output bound set when it had none)
    input_tokens: int
    output_tokens: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def estimate(req: Requested, count: Count) -> Estimate:
    """Prompt tokens and output bound; the request capped at the bound it is reserved for."""
    if not isinstance(req, ChatRequest):
        return Estimate(req, 0, 0)
    bound = req.max_output_tokens
    if not req.output_fields:
        bound = 0  # embeddings: no output
    elif bound is None:
        bound = DEFAULT_OUTPUT_BOUND
        req = req.with_output_bound(bound)
    return Estimate(req, prompt_tokens(req.messages, count), bound)


def max_spend(
    prices: PriceBook,
    targets: Sequence[Target[CompiledProvider]],
    est: Estimate,
    at: int,
) -> int | None:
    """The most the request can cost along its targets; None when one has no price."""
    tokens = TokenCounts(input=est.input_tokens, output=est.output_tokens)
    most = 0
    for target in targets:
        cost = prices.price(target.provider.kind_name, target.model, at, tokens)
        if cost is None:
            return None
        most = max(most, cost.micro_usd)
    return most
