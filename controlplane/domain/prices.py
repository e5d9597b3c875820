"""Model prices: names, validation, the catalog version, and pricing a request.

Prices live at `prices/{id}` (the catalog, for every workspace) and
`workspaces/{w}/prices/{id}` (a workspace's negotiated overrides). Arithmetic is
`oggy.contract.pricing` — the very code the data plane prices requests with —
so an estimate here and a usage event there agree to the micro-dollar.

Catalog version: `str(max mod_revision)` over the prices in scope — the catalog,
plus the workspace's overrides when pricing for a workspace — or `"default"`
when there are none. Any create or replace of a price in scope changes it (the
store revision only grows); a data plane derives the same string from the
`etag`s of `Snapshot.prices`. A delete changes it only when it removes the most
recently written price (see the proto note in the report: a snapshot-level
version field would close that gap).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.domain.errors import InvalidArgument, NotFound
from oggy.contract.names import (
    PRICES,
    ChildName,
    Collection,
    InvalidName,
    WorkspaceName,
    parse_child_name,
    parse_workspace_name,
    validate_id,
)
from oggy.contract.pricing import Cost, Price, PriceCatalog, PriceEntry, TokenCounts
from oggy.v1 import price_pb2

PROVIDER_KINDS = ("openai", "anthropic", "azure_openai", "openai_compatible")
ANY_PROVIDER = "*"
DEFAULT_ID_PREFIX = "default-"
_MODEL = re.compile(r"[\x21-\x7e]{1,200}")
_AMOUNT_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
)


@dataclass(frozen=True, slots=True)
class CatalogPriceName:
    resource_id: str

    def __str__(self) -> str:
        return f"{PRICES}/{self.resource_id}"


PriceName = CatalogPriceName | ChildName


def catalog_price_name(resource_id: str) -> CatalogPriceName:
    return CatalogPriceName(validate_id(resource_id, "price id"))


def parse_price_name(name: str, field: str = "name") -> PriceName:
    """`prices/{id}` or `workspaces/{w}/prices/{id}`."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == PRICES:
        try:
            return catalog_price_name(parts[1])
        except InvalidName:
            pass
    elif len(parts) == 4:
        return parse_child_name(name, Collection.PRICES, field)
    raise InvalidArgument(
        f"{field} must be prices/{{price}} or workspaces/{{workspace}}/prices/{{price}}, "
        f"got {name!r}"
    )


def parse_parent(parent: str) -> WorkspaceName | None:
    """None for the catalog (empty parent), else the workspace."""
    return parse_workspace_name(parent, "parent") if parent else None


def price_name_in(parent: WorkspaceName | None, resource_id: str) -> PriceName:
    if parent is None:
        return catalog_price_name(resource_id)
    return parent.child(Collection.PRICES, validate_id(resource_id, "price id"))


def validate(price: price_pb2.ModelPrice) -> None:
    if price.provider not in (*PROVIDER_KINDS, ANY_PROVIDER):
        kinds = ", ".join((*PROVIDER_KINDS, ANY_PROVIDER))
        raise InvalidArgument(f"model_price.provider must be one of {kinds}")
    if not price.model:
        raise InvalidArgument("model_price.model is required")
    if not _MODEL.fullmatch(price.model):
        raise InvalidArgument("model_price.model must be printable without spaces")
    for field in _AMOUNT_FIELDS:
        if getattr(price, field) < 0:
            raise InvalidArgument(f"model_price.{field} must not be negative")
    if price.HasField("effective_time") and price.effective_time.seconds < 0:
        raise InvalidArgument("model_price.effective_time must be after 1970")


# --- pricing --------------------------------------------------------------------------


def _optional(price: price_pb2.ModelPrice, field: str) -> int | None:
    return getattr(price, field) if price.HasField(field) else None


def to_entry(price: price_pb2.ModelPrice) -> PriceEntry:
    return PriceEntry(
        provider=price.provider,
        model=price.model,
        effective_from=price.effective_time.seconds,
        price=Price(
            input=price.input_per_mtok,
            output=price.output_per_mtok,
            cached_input=_optional(price, "cached_input_per_mtok"),
            cache_write=_optional(price, "cache_write_per_mtok"),
            reasoning=_optional(price, "reasoning_per_mtok"),
        ),
    )


def from_entry(entry: PriceEntry, name: str) -> price_pb2.ModelPrice:
    price = price_pb2.ModelPrice(
        name=name,
        provider=entry.provider,
        model=entry.model,
        effective_time=Timestamp(seconds=entry.effective_from),
        input_per_mtok=entry.price.input,
        output_per_mtok=entry.price.output,
    )
    for field, value in (
        ("cached_input_per_mtok", entry.price.cached_input),
        ("cache_write_per_mtok", entry.price.cache_write),
        ("reasoning_per_mtok", entry.price.reasoning),
    ):
        if value is not None:
            setattr(price, field, value)
    return price


def default_id(entry: PriceEntry) -> str:
    """`default-<provider>-<model slug>`: `gpt-4o-mini*` → `default-openai-gpt-4o-mini-any`."""
    slug = entry.model.lower().replace("*", "-any").replace("?", "-one")
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    provider = entry.provider.replace("_", "-") if entry.provider != ANY_PROVIDER else "any"
    return f"{DEFAULT_ID_PREFIX}{provider}-{slug}"[:63].rstrip("-")


def default_prices(entries: Sequence[PriceEntry]) -> list[price_pb2.ModelPrice]:
    """The shipped list prices as catalog ModelPrices, with unique ids."""
    out: list[price_pb2.ModelPrice] = []
    seen: set[str] = set()
    for entry in entries:
        base = resource_id = default_id(entry)
        n = 2
        while resource_id in seen:
            resource_id = f"{base[:60]}-{n}"
            n += 1
        seen.add(resource_id)
        out.append(from_entry(entry, str(CatalogPriceName(resource_id))))
    return out


@dataclass(frozen=True, slots=True)
class Estimate:
    cost: Cost
    price: price_pb2.ModelPrice


def estimate(
    catalog: Sequence[price_pb2.ModelPrice],
    overrides: Sequence[price_pb2.ModelPrice],
    *,
    provider: str,
    model: str,
    at: int,
    tokens: TokenCounts,
    version: str,
) -> Estimate:
    """Price `tokens`; a workspace override wins over the catalog. NotFound: no price.

    `provider` empty tries every provider kind, in PROVIDER_KINDS order.
    """
    if provider and provider not in (*PROVIDER_KINDS, ANY_PROVIDER):
        raise InvalidArgument(f"provider must be one of {', '.join(PROVIDER_KINDS)}")
    if not model:
        raise InvalidArgument("model is required")
    kinds = (provider,) if provider else (*PROVIDER_KINDS, ANY_PROVIDER)
    for layer in (overrides, catalog):
        if not layer:
            continue
        by_entry = {to_entry(p): p for p in layer}
        priced = PriceCatalog(version, by_entry)
        for kind in kinds:
            cost = priced.price(kind, model, at, tokens)
            if cost is not None:
                return Estimate(cost, by_entry[cost.entry])
    raise NotFound(f"no price for model {model!r}" + (f" from {provider}" if provider else ""))


def token_counts(
    *, input: int, output: int, cached_input: int, cache_write: int, reasoning: int
) -> TokenCounts:
    for field, value in (
        ("input_tokens", input),
        ("output_tokens", output),
        ("cached_input_tokens", cached_input),
        ("cache_write_tokens", cache_write),
        ("reasoning_tokens", reasoning),
    ):
        if value < 0:
            raise InvalidArgument(f"{field} must not be negative")
    if reasoning > output:
        raise InvalidArgument("reasoning_tokens are part of output_tokens: at most that many")
    return TokenCounts(
        input=input,
        cached_input=cached_input,
        cache_write=cache_write,
        output=output,
        reasoning=reasoning,
    )


def in_force_and_scheduled(
    prices: Sequence[price_pb2.ModelPrice], at: int
) -> list[price_pb2.ModelPrice]:
    """`prices` without superseded history: per (provider, model), the price in
    force at `at` and every later one. Order is preserved."""
    in_force: dict[tuple[str, str], int] = {}
    for p in prices:
        start = p.effective_time.seconds
        key = (p.provider, p.model)
        if start <= at and start >= in_force.get(key, -1):
            in_force[key] = start
    return [
        p
        for p in prices
        if p.effective_time.seconds > at
        or p.effective_time.seconds == in_force.get((p.provider, p.model))
    ]
