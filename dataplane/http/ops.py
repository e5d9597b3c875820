"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from dataplane.config.holder import ConfigHolder
from dataplane.http.errors import error_response
from dataplane.http.metrics import CONTENT_TYPE, Metrics
from oggy.contract import errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_OK = orjson.dumps({"status": "ok"})


async def healthz(_: web.Request) -> web.Response:
    return web.Response(body=_OK, content_type="application/json")


def readyz(holder: ConfigHolder) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        cfg = holder.current
        if cfg is None:
            return error_response(errors.NotReady())
        if time.perf_counter() >= holder.stale_after:  # --max-config-age passed
            return error_response(errors.ConfigStale())
        return web.Response(
            body=orjson.dumps({"status": "ready", "revision": cfg.revision}),
            content_type="application/json",
        )

    return handler


def metrics_handler(metrics: Metrics) -> Handler:
    headers = {"Content-Type": CONTENT_TYPE, "X-Content-Type-Options": "nosniff"}

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers=headers)

    return handler
