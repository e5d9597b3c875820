"""Price a request from its token counts — pure, integer arithmetic.

Prices are micro-USD per one million tokens, so a catalog entry is exact
(`$2.50 / 1M` is 2_500_000) and cost is `tokens * price / 1e6` micro-USD,
rounded half-up once per request. Each token class has its own rate: cached
input and cache writes differ from plain input, and reasoning tokens may
differ from visible output (they default to the output rate, as providers bill
them). A model with no price yields `None`, never a silent zero.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Tokens by how they are billed. Classes are disjoint: `input` excludes
    cached reads and cache writes; `output` includes `reasoning`."""

    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0


@dataclass(frozen=True, slots=True)
class Price:
    """Micro-USD per 1M tokens for each token class."""

    input: int
    output: int
    cached_input: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None


@dataclass(frozen=True, slots=True)
class PriceEntry:
    provider: str  # provider kind: "openai", "anthropic", ... or "*" for any
    model: str  # exact name or glob
    effective_from: int  # unix seconds
    price: Price


@dataclass(frozen=True, slots=True)
class Cost:
    micro_usd: int
    catalog_version: str
    entry: PriceEntry


def _div_round_half_up(numerator: int, denominator: int) -> int:
    return (numerator * 2 + denominator) // (denominator * 2)


def cost_micro_usd(tokens: TokenCounts, price: Price) -> int:
    reasoning_rate = price.output if price.reasoning is None else price.reasoning
    visible_output = max(tokens.output - tokens.reasoning, 0)
    numerator = (
        tokens.input * price.input
        + tokens.cached_input * (price.input if price.cached_input is None else price.cached_input)
        + tokens.cache_write * (price.input if price.cache_write is None else price.cache_write)
        + visible_output * price.output
        + min(tokens.reasoning, tokens.output) * reasoning_rate
    )
    return _div_round_half_up(numerator, TOKENS_PER_PRICE_UNIT)


class PriceCatalog:
    """A versioned, immutable catalog; lookups are memoised per (provider, model)."""

    def __init__(self, version: str, entries: Iterable[PriceEntry]) -> None:
        self.version = version
        by_key: dict[tuple[str, str], list[PriceEntry]] = {}
        for entry in entries:
            by_key.setdefault((entry.provider, entry.model), []).append(entry)
        self._timelines = {
            key: sorted(items, key=lambda e: e.effective_from) for key, items in by_key.items()
        }
        self._starts = {
            key: [e.effective_from for e in timeline] for key, timeline in self._timelines.items()
        }
        self._globs = [key for key in self._timelines if any(c in key[1] for c in "*?[")]
        self._resolved: dict[tuple[str, str], tuple[str, str] | None] = {}

    def _resolve(self, provider: str, model: str) -> tuple[str, str] | None:
        memo_key = (provider, model)
        if memo_key in self._resolved:
            return self._resolved[memo_key]
        found: tuple[str, str] | None = None
        for candidate in ((provider, model), ("*", model)):
            if candidate in self._timelines:
                found = candidate
                break
        if found is None:
            # Longest glob wins so `gpt-4o-mini*` beats `gpt-4o*`.
            matches = [
                key
                for key in self._globs
                if key[0] in (provider, "*") and fnmatch.fnmatchcase(model, key[1])
            ]
            if matches:
                found = max(matches, key=lambda key: (len(key[1]), key[0] != "*"))
        if len(self._resolved) < 100_000:
            self._resolved[memo_key] = found
        return found

    def lookup(self, provider: str, model: str, at: int) -> PriceEntry | None:
        key = self._resolve(provider, model)
        if key is None:
            return None
        index = bisect.bisect_right(self._starts[key], at) - 1
        return self._timelines[key][index] if index >= 0 else None

    def price(self, provider: str, model: str, at: int, tokens: TokenCounts) -> Cost | None:
        entry = self.lookup(provider, model, at)
        if entry is None:
            return None
        return Cost(cost_micro_usd(tokens, entry.price), self.version, entry)
