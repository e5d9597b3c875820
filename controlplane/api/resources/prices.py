"""Price RPCs: the catalog (`prices/{id}`) and workspace overrides
(`workspaces/{w}/prices/{id}`), cost estimates, and seeding the default catalog.

Pricing arithmetic and the catalog version rule live in controlplane.domain.prices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from controlplane.api import convert
from controlplane.api.audit import AuditLog
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import paging, prices
from controlplane.domain.errors import AlreadyExists, InvalidArgument, NotFound
from controlplane.domain.layout import Layout
from controlplane.store.base import Item, RevisionConflict
from controlplane.store.txn import Absent, PrefixEmpty, Put, TxnStore
from oggy.contract.default_prices import default_entries
from oggy.contract.names import Collection, WorkspaceName, parse_workspace_name
from oggy.contract.price_book import catalog_version
from oggy.v1 import admin_service_pb2 as pb

log = logging.getLogger(__name__)
_SET_ATTEMPTS = 5


class PriceRpcs(ServicerBase):
    async def _prices_in(self, workspace: WorkspaceName | None) -> list[Item]:
        prefix = (
            self._layout.catalog_prices
            if workspace is None
            else self._layout.resource(workspace.collection_prefix(Collection.PRICES))
        )
        items, _ = await self._store.list_prefix(prefix)
        return items

    @grpc_errors
    async def SetModelPrice(self, request: pb.SetModelPriceRequest, context: Ctx):
        body = request.model_price
        parent = prices.parse_parent(request.parent)
        if body.name:
            name = prices.parse_price_name(body.name, "model_price.name")
            owner = name.parent if not isinstance(name, prices.CatalogPriceName) else None
            if request.parent and owner != parent:
                raise InvalidArgument("model_price.name is not under parent")
        else:
            name = prices.price_name_in(parent, self._resource_id("", "price id")[0])
        prices.validate(body)
        owner = name.parent if not isinstance(name, prices.CatalogPriceName) else None
        value = convert.new_price(body, str(name), self._clock())
        guards = [self._repo.parent_exists(str(owner))] if owner is not None else []
        audit = self._audit("SetModelPrice", str(name), convert.price_out)
        item: Item | None = None
        for _ in range(_SET_ATTEMPTS):  # create or replace, whichever the store allows
            try:
                await self._repo.get(str(name))
            except NotFound:
                if body.etag:
                    raise NotFound(f"{name} not found (an etag was given)") from None
                try:
                    created = await self._repo.create(
                        method="SetModelPrice",
                        name=str(name),
                        value=value,
                        request_id="",
                        explicit_id=True,
                        guards=guards,
                        audit=audit,
                    )
                except AlreadyExists:
                    continue
                item = created.item
                break

            def replace(_: Item) -> tuple[bytes, Sequence[Guard]] | None:
                return value, guards

            try:
                item = await self._repo.update(str(name), body.etag, replace, audit=audit)
            except NotFound:
                continue
            break
        if item is None:
            raise InvalidArgument(f"{name} keeps changing; retry")
        return pb.SetModelPriceResponse(
            model_price=convert.price_out(item), catalog_version=await self._version_for(owner)
        )

    async def _version_for(self, workspace: WorkspaceName | None) -> str:
        catalog = [convert.price_out(i) for i in await self._prices_in(None)]
        if workspace is None:
            return catalog_version(catalog)
        overrides = [convert.price_out(i) for i in await self._prices_in(workspace)]
        return catalog_version(catalog, overrides)

    @grpc_errors
    async def ListModelPrices(self, request: pb.ListModelPricesRequest, context: Ctx):
        parent = prices.parse_parent(request.parent)
        scope = request.parent or "prices/"
        items = await self._prices_in(parent)
        stored = [convert.price_out(i) for i in items]
        catalog = [convert.price_out(i) for i in await self._prices_in(None)] if parent else stored
        version = catalog_version(catalog, stored if parent else ())
        current = prices.in_force_and_scheduled(stored, int(self._clock()))
        page, token = paging.paginate(
            current,
            lambda p: p.name,
            scope,
            paging.page_size(request.page_size),
            request.page_token,
        )
        return pb.ListModelPricesResponse(
            model_prices=page,
            next_page_token=token,
            catalog_version=version,
        )

    @grpc_errors
    async def DeleteModelPrice(self, request: pb.DeleteModelPriceRequest, context: Ctx):
        name = str(prices.parse_price_name(request.name))
        await self._delete("DeleteModelPrice", name, "", convert.price_out)
        return pb.DeleteModelPriceResponse()

    @grpc_errors
    async def EstimateCost(self, request: pb.EstimateCostRequest, context: Ctx):
        workspace = (
            parse_workspace_name(request.workspace, "workspace") if request.workspace else None
        )
        tokens = prices.token_counts(
            input=request.input_tokens,
            output=request.output_tokens,
            cached_input=request.cached_input_tokens,
            cache_write=request.cache_write_tokens,
            reasoning=request.reasoning_tokens,
        )
        catalog = [convert.price_out(i) for i in await self._prices_in(None)]
        overrides = (
            [convert.price_out(i) for i in await self._prices_in(workspace)] if workspace else []
        )
        version = catalog_version(catalog, overrides)
        found = prices.estimate(
            catalog,
            overrides,
            provider=request.provider,
            model=request.model,
            at=int(self._clock()),
            tokens=tokens,
            version=version,
        )
        return pb.EstimateCostResponse(
            cost_micro_usd=found.cost.micro_usd, model_price=found.price, catalog_version=version
        )


async def seed_default_prices(
    store: TxnStore, prefix: str = "/oggy/", clock: Callable[[], float] | None = None
) -> int:
    """Write the shipped list prices once, if the catalog is empty; returns how many.

    One transaction guarded by "no catalog price and never seeded", so concurrent
    control planes seed at most once, and a catalog an admin emptied stays empty.
    """
    layout = Layout(prefix)
    defaults = prices.default_prices(default_entries())
    ops: list[Put] = [Put(layout.resource(p.name), p.SerializeToString()) for p in defaults]
    ops.append(Put(layout.prices_seeded, b"1"))
    if clock is not None:
        ops.append(
            AuditLog(layout, clock).event(
                method="SeedDefaultPrices",
                resource="prices",
                before=None,
                after=None,
                principal="system",
            )
        )
    try:
        await store.commit([Absent(layout.prices_seeded), PrefixEmpty(layout.catalog_prices)], ops)
    except RevisionConflict:
        return 0
    log.info("seeded the price catalog with %d default prices", len(defaults))
    return len(defaults)
