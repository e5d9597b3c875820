"""GET /v1/models: the concrete models the key's workspace serves and its policy allows.

Glob entries (`gpt-4o*`) route requests but are not listed: there is no
finite list to show.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from dataplane.http.metering import Deps, Inner, authorize, current_config
from dataplane.http.record import RequestRecord
from oggy.contract.policy import Allow


def list_models(deps: Deps) -> Inner:
    holder = deps.holder

    async def inner(request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        cfg = current_config(holder)
        key = authorize(request, rec, cfg)
        policy = key.policy
        routing = key.workspace.routing
        data = [
            {
                "id": model,
                "object": "model",
                "created": 0,
                "owned_by": provider.name.rsplit("/", 1)[1],
            }
            for model, provider in key.workspace.models
            if isinstance(policy.check_any_model(routing.upstream_models(model)), Allow)
        ]
        body = orjson.dumps({"object": "list", "data": data})
        rec.first_byte = time.perf_counter()
        return web.Response(
            body=body, content_type="application/json", headers={"X-Request-Id": rec.request_id}
        )

    return inner
