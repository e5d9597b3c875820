"""The price catalog Oggy ships with (list prices, USD per 1M tokens).

Workspaces override these with negotiated rates; the admin API edits them.
Dated snapshots of a model (`gpt-4o-2024-08-06`) match the family glob.
"""

from __future__ import annotations

from oggy.contract.pricing import Price, PriceCatalog, PriceEntry

DEFAULT_CATALOG_VERSION = "2025-11-01"
_EFFECTIVE = 1_735_689_600  # 2025-01-01T00:00:00Z


def _usd(value: float | None) -> int | None:
    return None if value is None else round(value * 1_000_000)


# (provider, model glob, input, cached input, cache write, output)
_LIST_PRICES: tuple[tuple[str, str, float, float | None, float | None, float], ...] = (
    ("openai", "gpt-5", 1.25, 0.125, None, 10.00),
    ("openai", "gpt-5-20*", 1.25, 0.125, None, 10.00),
    ("openai", "gpt-5-mini*", 0.25, 0.025, None, 2.00),
    ("openai", "gpt-5-nano*", 0.05, 0.005, None, 0.40),
    ("openai", "gpt-4.1", 2.00, 0.50, None, 8.00),
    ("openai", "gpt-4.1-20*", 2.00, 0.50, None, 8.00),
    ("openai", "gpt-4.1-mini*", 0.40, 0.10, None, 1.60),
    ("openai", "gpt-4.1-nano*", 0.10, 0.025, None, 0.40),
    ("openai", "gpt-4o", 2.50, 1.25, None, 10.00),
    ("openai", "gpt-4o-20*", 2.50, 1.25, None, 10.00),
    ("openai", "gpt-4o-mini*", 0.15, 0.075, None, 0.60),
    ("openai", "o1", 15.00, 7.50, None, 60.00),
    ("openai", "o1-20*", 15.00, 7.50, None, 60.00),
    ("openai", "o3", 2.00, 0.50, None, 8.00),
    ("openai", "o3-20*", 2.00, 0.50, None, 8.00),
    ("openai", "o3-mini*", 1.10, 0.55, None, 4.40),
    ("openai", "o4-mini*", 1.10, 0.275, None, 4.40),
    ("openai", "gpt-3.5-turbo*", 0.50, None, None, 1.50),
    ("openai", "text-embedding-3-small", 0.02, None, None, 0.0),
    ("openai", "text-embedding-3-large", 0.13, None, None, 0.0),
    ("openai", "text-embedding-ada-002", 0.10, None, None, 0.0),
    ("anthropic", "claude-opus-4-5*", 5.00, 0.50, 6.25, 25.00),
    ("anthropic", "claude-opus-4*", 15.00, 1.50, 18.75, 75.00),
    ("anthropic", "claude-sonnet-4*", 3.00, 0.30, 3.75, 15.00),
    ("anthropic", "claude-3-7-sonnet*", 3.00, 0.30, 3.75, 15.00),
    ("anthropic", "claude-3-5-sonnet*", 3.00, 0.30, 3.75, 15.00),
    ("anthropic", "claude-haiku-4-5*", 1.00, 0.10, 1.25, 5.00),
    ("anthropic", "claude-3-5-haiku*", 0.80, 0.08, 1.00, 4.00),
    ("anthropic", "claude-3-haiku*", 0.25, 0.03, 0.30, 1.25),
)


def default_entries() -> list[PriceEntry]:
    entries = []
    for provider, model, inp, cached, write, out in _LIST_PRICES:
        price = Price(
            input=_usd(inp) or 0,
            output=_usd(out) or 0,
            cached_input=_usd(cached),
            cache_write=_usd(write),
        )
        entries.append(PriceEntry(provider, model, _EFFECTIVE, price))
    return entries


def default_catalog() -> PriceCatalog:
    return PriceCatalog(DEFAULT_CATALOG_VERSION, default_entries())
