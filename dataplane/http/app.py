"""create_app: wire the config holder, the usage sink and the upstream client to routes."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dataplane.config.holder import ConfigHolder
from dataplane.http import endpoints
from dataplane.http.errors import error_middleware
from dataplane.http.metering import (
    DEFAULT_MAX_BODY_BYTES,
    Deps,
    Handler,
    drain_deferred,
    metered,
    record_unparsed,
)
from dataplane.http.metrics import SINK_GAUGES, Metrics
from dataplane.http.ops import healthz, metrics_handler, readyz
from dataplane.http.passthrough import PassthroughHandler
from dataplane.http.proxy import EndpointSpec, ProxyHandler
from dataplane.http.upstream import Upstream
from dataplane.http.v1_models import list_models
from dataplane.http.wire import HANDLER_ARGS, ON_UNPARSED
from dataplane.quota.metrics import QuotaCollector
from dataplane.quota.table import QuotaTable
from dataplane.usage_sink import UsageSink
from oggy.contract.ids import uuid7
from oggy.contract.timeouts import DEFAULT_TIMEOUTS

PASSTHROUGH_ROUTE = "/v1/{tail:.+}"


@dataclass(frozen=True, slots=True)
class HttpOptions:
    dataplane_id: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    upstream_connect_timeout_s: float = DEFAULT_TIMEOUTS.connect_s  # type: ignore[assignment]
    # Until the upstream response headers arrive (non-streams: the whole body).
    upstream_first_byte_timeout_s: float = DEFAULT_TIMEOUTS.first_byte_s  # type: ignore[assignment]
    # Longest silence between two chunks of a streamed response.
    upstream_between_chunks_timeout_s: float = DEFAULT_TIMEOUTS.idle_s  # type: ignore[assignment]
    upstream_pool_limit: int = 1000
    reserve_spend: bool = True  # budgets reserve a request's maximum cost at admission

    @classmethod
    def from_settings(cls, settings: Any) -> HttpOptions:
        """Pick the fields this layer uses from any settings-like object (by attribute name)."""
        defaults = cls()
        return cls(
            dataplane_id=getattr(settings, "dataplane_id", "") or getattr(settings, "node_id", ""),
            **{
                name: getattr(settings, name, getattr(defaults, name))
                for name in (
                    "max_body_bytes",
                    "upstream_connect_timeout_s",
                    "upstream_first_byte_timeout_s",
                    "upstream_between_chunks_timeout_s",
                    "upstream_pool_limit",
                    "reserve_spend",
                )
            },
        )


HOLDER = web.AppKey("oggy_holder", ConfigHolder)
USAGE_SINK = web.AppKey("oggy_usage_sink", UsageSink)
UPSTREAM = web.AppKey("oggy_upstream", Upstream)
METRICS = web.AppKey("oggy_metrics", Metrics)
OPTIONS = web.AppKey("oggy_http_options", HttpOptions)


def create_app(
    holder: ConfigHolder,
    usage_sink: UsageSink,
    options: HttpOptions | None = None,
    *,
    new_id: Callable[[], str] = uuid7,
    quota: QuotaTable | None = None,
) -> web.Application:
    """The data plane's aiohttp application; the upstream client lives as long as the app.

    `quota`: the table limits and budgets are enforced from (None: none are)."""
    options = options or HttpOptions()
    # The whole body limit: a bigger body gets 413 before a byte goes upstream.
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=options.max_body_bytes,
        handler_args=HANDLER_ARGS,
    )
    upstream = Upstream(
        connect_timeout_s=options.upstream_connect_timeout_s,
        first_byte_timeout_s=options.upstream_first_byte_timeout_s,
        idle_timeout_s=options.upstream_between_chunks_timeout_s,
        pool_limit=options.upstream_pool_limit,
    )
    metrics = Metrics(
        gauges={
            key: read for key in SINK_GAUGES if (read := getattr(usage_sink, key, None)) is not None
        },
        config_age=holder.config_age_s,
        collectors=[QuotaCollector(quota)] if quota is not None else [],
    )
    app[HOLDER] = holder
    app[USAGE_SINK] = usage_sink
    app[UPSTREAM] = upstream
    app[METRICS] = metrics
    app[OPTIONS] = options

    async def upstream_lifetime(_: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        yield
        await upstream.close()

    app.cleanup_ctx.append(upstream_lifetime)

    deps = Deps(
        holder,
        usage_sink,
        upstream,
        metrics,
        options.dataplane_id,
        new_id,
        options.max_body_bytes,
        quota,
        reserve_spend=options.reserve_spend,
    )

    async def drain_usage(_: web.Application) -> None:
        await drain_deferred(deps)

    app.on_cleanup.append(drain_usage)
    app[ON_UNPARSED] = functools.partial(record_unparsed, deps)
    idle = options.upstream_between_chunks_timeout_s

    def proxy(spec: EndpointSpec, path_model: str | None = None) -> Handler:
        handler = ProxyHandler(deps, spec, idle_timeout_s=idle)
        return metered(spec.endpoint, deps, handler, path_model=path_model)

    for path, spec in {**endpoints.OPENAI_PATHS, **endpoints.ANTHROPIC_PATHS}.items():
        app.router.add_post(path, proxy(spec))
    for op, spec in endpoints.AZURE_DEPLOYMENT_OPS.items():
        path = f"/openai/deployments/{{{endpoints.DEPLOYMENT_KEY}}}/{op}"
        app.router.add_post(path, proxy(spec, endpoints.DEPLOYMENT_KEY))
    app.router.add_post(endpoints.AZURE_RESPONSES_PATH, proxy(endpoints.RESPONSES))
    app.router.add_get(endpoints.MODELS.path, metered(endpoints.MODELS, deps, list_models))
    # Every other OpenAI API path, verbatim (metadata-only accounting).
    passthrough = PassthroughHandler(deps, idle_timeout_s=idle)
    app.router.add_route("*", PASSTHROUGH_ROUTE, metered(endpoints.PASSTHROUGH, deps, passthrough))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(holder))
    app.router.add_get("/metrics", metrics_handler(metrics))
    return app
