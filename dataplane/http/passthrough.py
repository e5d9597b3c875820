"""Any other `/v1/*` path: passed verbatim to an OpenAI or OpenAI-compatible provider.

Method, path (below `/v1`), query and body bytes go up unchanged (the client's
`Content-Type` too, for multipart uploads); the provider is the one serving the
body's `model` when the body is a JSON object naming one (policy checks that
model), else the workspace's first OpenAI-kind provider by resource name.
Accounting is metadata only — status, latency, bytes — plus tokens when the
response is JSON (or SSE) with a `usage` object. No estimates, no fallback
without a model.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from yarl import URL

from dataplane.core.stream_tap import StreamTap
from dataplane.http.metering import Deps, authorize, current_config
from dataplane.http.proxy import (
    SSE_CONTENT_TYPE,
    Call,
    open_with_fallback,
    provider_name,
    read_body,
    relay_buffered,
    relay_stream,
    target_model,
)
from dataplane.http.record import RequestRecord
from dataplane.http.upstream import upstream_headers
from dataplane.providers import openai
from oggy.contract import errors
from oggy.contract.dialects import OPENAI_FAMILY
from oggy.contract.policy import enforce, permitted_targets
from oggy.contract.routing import Target

_BAD_SEGMENTS = ("/../", "/./", "//")


class PassthroughHandler:
    def __init__(self, deps: Deps, *, max_body_bytes: int, idle_timeout_s: float) -> None:
        self._holder = deps.holder
        self._upstream = deps.upstream
        self._metrics = deps.metrics
        self._max_body = max_body_bytes
        self._idle = idle_timeout_s

    async def __call__(self, request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        cfg = current_config(self._holder)
        key = authorize(request, rec, cfg)
        raw_path = request.raw_path
        path = raw_path.partition("?")[0]
        if any(s in path + "/" for s in _BAD_SEGMENTS) or "%2e" in path.lower():
            raise errors.InvalidRequest("The request path is not a plain API path.")
        body = await read_body(request, self._max_body)
        model = _model_of(body, request.content_type)
        workspace = key.workspace
        if model is not None:
            rec.model = rec.requested_model = model
            enforce(key.policy.check_any_model(workspace.routing.upstream_models(model)), rec)
            targets = tuple(
                t for t in workspace.targets(model, OPENAI_FAMILY) if t.provider.dialect.passthrough
            )
            if not targets:
                raise errors.ModelNotFound(
                    f"The model {model!r} is not served by an OpenAI provider here.",
                    param="model",
                )
        else:
            provider = workspace.first_passthrough()
            if provider is None:
                raise errors.NotFound("No OpenAI provider in this workspace serves this path.")
            targets = (Target(provider, ""),)
        model_of = target_model if model is not None else None
        targets, decision = permitted_targets(key.policy, targets, provider_name, model_of)
        enforce(decision, rec)
        client_headers = request.headers
        # Everything after `/v1`, query included, exactly as the client sent it.
        tail = raw_path[len("/v1") :]
        content_type = request.headers.get("Content-Type") if body else None

        def build(target: Target) -> tuple[object, dict[str, str], bytes | None]:
            p = target.provider
            url = URL(p.base_url + tail, encoded=True)
            headers = upstream_headers(
                client_headers,
                p.auth_headers,
                p.dialect.forward_headers,
                content_type=content_type,
            )
            return url, headers, body or None

        resp, served = await open_with_fallback(
            self._upstream,
            self._metrics,
            rec,
            targets,
            build,
            self._idle,
            method=request.method,
        )
        if not served.model:
            rec.model = ""
        call = Call(rec, None, openai.GENERIC, workspace, served)
        rec.upstream_request_id = resp.headers.get("x-request-id", "")
        ctype = resp.headers.get("Content-Type", "")
        if resp.status >= 300 or ctype.startswith("application/json"):
            return await relay_buffered(call, resp, self._idle, self._metrics)
        rec.stream = ctype.startswith(SSE_CONTENT_TYPE)
        tap = StreamTap(drop_usage_chunk=False) if rec.stream else None
        return await relay_stream(request, call, resp, tap, self._idle, self._metrics)


def _model_of(body: bytes, content_type: str) -> str | None:
    if not body or "json" not in content_type:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = obj.get("model") if isinstance(obj, dict) else None
    return model if isinstance(model, str) and 0 < len(model) <= 256 else None
