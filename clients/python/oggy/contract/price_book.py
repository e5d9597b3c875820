"""Per-workspace pricing: the workspace's negotiated overrides over the catalog. Pure.

Built once per config (compile time). The catalog is the snapshot's global
prices (`prices/{p}`), or Oggy's default list prices when the snapshot has
none; a workspace's own prices (`workspaces/{w}/prices/{p}`) are looked up
first. Providers that serve OpenAI's models under another kind
(`azure_openai`, `openai_compatible`) fall back to the `openai` entries.
The version names the exact set of prices used (a content hash), so a cost
can be traced to the rates that produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from oggy.contract import names
from oggy.contract.default_prices import DEFAULT_CATALOG_VERSION, default_catalog
from oggy.contract.pricing import (
    Cost,
    Price,
    PriceCatalog,
    PriceEntry,
    TokenCounts,
    cost_micro_usd,
)
from oggy.v1 import price_pb2

PROVIDER_KINDS = frozenset({"openai", "anthropic", "azure_openai", "openai_compatible", "*"})
# Kinds that also take the `openai` price of a model they serve.
_OPENAI_SERVED = frozenset({"azure_openai", "openai_compatible"})
_END_OF_TIME = 2**62
_MEMO_SIZE = 4096


class PriceBook:
    """Catalogs consulted in order (workspace overrides first)."""

    __slots__ = ("_where", "layers", "version")

    def __init__(self, layers: tuple[PriceCatalog, ...], version: str) -> None:
        self.layers = layers
        self.version = version
        # (kind, model) → the (catalog, kind) that prices it, or None: memoised per book.
        self._where: dict[tuple[str, str], tuple[PriceCatalog, str] | None] = {}

    def _locate(self, kind: str, model: str) -> tuple[PriceCatalog, str] | None:
        key = (kind, model)
        try:
            return self._where[key]
        except KeyError:
            pass
        kinds = (kind, "openai") if kind in _OPENAI_SERVED else (kind,)
        found = next(
            (
                (layer, k)
                for layer in self.layers
                for k in kinds
                if layer.lookup(k, model, _END_OF_TIME) is not None
            ),
            None,
        )
        if len(self._where) >= _MEMO_SIZE:
            self._where.clear()
        self._where[key] = found
        return found

    def price(self, kind: str, model: str, at: int, tokens: TokenCounts) -> Cost | None:
        """Cost at the rates in force at `at` (unix seconds); None when unpriced."""
        where = self._locate(kind, model)
        if where is None:
            return None
        layer, k = where
        entry = layer.lookup(k, model, at)
        if entry is None:  # that layer prices it only from a later date on: walk them all
            kinds = (kind, "openai") if kind in _OPENAI_SERVED else (kind,)
            entry = next(
                (
                    e
                    for cat in self.layers
                    for k in kinds
                    if (e := cat.lookup(k, model, at)) is not None
                ),
                None,
            )
            if entry is None:
                return None
        return Cost(cost_micro_usd(tokens, entry.price), self.version, entry)


def entry_of(p: price_pb2.ModelPrice) -> PriceEntry:
    def opt(name: str) -> int | None:
        return getattr(p, name) if p.HasField(name) else None

    return PriceEntry(
        provider=p.provider,
        model=p.model,
        effective_from=p.effective_time.seconds,
        price=Price(
            input=p.input_per_mtok,
            output=p.output_per_mtok,
            cached_input=opt("cached_input_per_mtok"),
            cache_write=opt("cache_write_per_mtok"),
            reasoning=opt("reasoning_per_mtok"),
        ),
    )


def _version(prices: Iterable[price_pb2.ModelPrice]) -> str:
    h = hashlib.sha256()
    for p in sorted(prices, key=lambda p: p.name):
        c = price_pb2.ModelPrice()
        c.CopyFrom(p)
        c.ClearField("etag")
        h.update(c.SerializeToString(deterministic=True))
        h.update(b"\0")
    return h.hexdigest()[:12]


def catalog_version(
    catalog: Collection[price_pb2.ModelPrice],
    overrides: Collection[price_pb2.ModelPrice] = (),
) -> str:
    """The version a cost is stamped with: a hash of exactly the prices in play.

    Content-addressed rather than an etcd revision, so every data plane and
    the control plane name the same catalog the same way, and a delete
    changes it too. No catalog prices: the shipped defaults' version.
    """
    version = "c-" + _version(catalog) if catalog else DEFAULT_CATALOG_VERSION
    return f"{version}+w-{_version(overrides)}" if overrides else version


def _check(p: price_pb2.ModelPrice, error: type[Exception]) -> None:
    if p.provider not in PROVIDER_KINDS:
        raise error(
            f"price {p.name}: provider kind {p.provider!r} is not one of {sorted(PROVIDER_KINDS)}"
        )
    if not p.model or len(p.model) > 256:
        raise error(f"price {p.name}: model must be a name or glob of 1..256 characters")
    amounts = [p.input_per_mtok, p.output_per_mtok]
    amounts += [
        getattr(p, f)
        for f in ("cached_input_per_mtok", "cache_write_per_mtok", "reasoning_per_mtok")
        if p.HasField(f)
    ]
    if any(a < 0 for a in amounts):
        raise error(f"price {p.name}: amounts must not be negative")


def _checked(
    prices: Iterable[price_pb2.ModelPrice], error: type[Exception]
) -> list[price_pb2.ModelPrice]:
    out: list[price_pb2.ModelPrice] = []
    seen: set[str] = set()
    for p in prices:
        if p.name in seen:
            raise error(f"price {p.name} appears twice")
        seen.add(p.name)
        _check(p, error)
        out.append(p)
    return out


@dataclass(frozen=True, slots=True)
class Catalog:
    """The catalog-wide prices (`prices/{p}`) of a snapshot, compiled once for all
    its workspaces."""

    prices: tuple[price_pb2.ModelPrice, ...]
    layer: PriceCatalog
    # The book of every workspace without prices of its own (one memo shared).
    book: PriceBook


def compile_catalog(
    prices: Iterable[price_pb2.ModelPrice], error: type[Exception] = ValueError
) -> Catalog:
    """Raises `error` for an invalid price or one not named `prices/{id}`."""
    catalog = _checked(prices, error)
    for p in catalog:
        ref = names.classify(p.name)
        if ref is None or ref.collection is not names.Collection.PRICES or ref.workspace:
            raise error(f"price name {p.name!r} is not `prices/{{id}}`")
    version = catalog_version(catalog)
    layer = PriceCatalog(version, (entry_of(p) for p in catalog)) if catalog else default_catalog()
    return Catalog(tuple(catalog), layer, PriceBook((layer,), version))


def workspace_book(
    catalog: Catalog,
    workspace: str,
    overrides: Iterable[price_pb2.ModelPrice] = (),
    error: type[Exception] = ValueError,
) -> PriceBook:
    """`workspace`'s own prices (`workspaces/{w}/prices/{id}`) over the catalog."""
    own = _checked(overrides, error)
    for p in own:
        try:
            in_workspace = names.workspace_of(p.name, names.Collection.PRICES)
        except names.InvalidName as e:
            raise error(str(e)) from None
        if in_workspace != workspace:
            raise error(f"price {p.name} is not in {workspace}")
    if not own:
        return catalog.book
    version = catalog_version(catalog.prices, own)
    return PriceBook((PriceCatalog(version, (entry_of(p) for p in own)), catalog.layer), version)
