"""Any other `/v1/*` path: passed verbatim to an OpenAI or OpenAI-compatible provider.

Method, path (below `/v1`), query and body bytes go up unchanged (the client's
`Content-Type` too, for multipart uploads); the provider is the one serving the
body's `model` when the body is a JSON object naming one (policy checks that
model), else the workspace's first OpenAI-kind provider by resource name (both
decided by admission, core/admission.py). Accounting is metadata only —
status, latency, bytes — plus tokens when the response is JSON (or SSE) with a
`usage` object. No estimates, no fallback without a model.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from dataplane.core.admission import Admitted
from dataplane.core.passthrough import PassthroughRequest
from dataplane.core.record import RequestRecord
from dataplane.core.stream_tap import StreamTap
from dataplane.core.trace import trace_context
from dataplane.http.metering import Deps
from dataplane.http.proxy import (
    SSE_CONTENT_TYPE,
    Call,
    open_with_fallback,
    relay_buffered,
    relay_stream,
)
from dataplane.http.upstream import upstream_headers
from dataplane.providers import openai
from oggy.contract.compile import CompiledProvider
from oggy.contract.dialects import OPENAI_FAMILY
from oggy.contract.routing import Target


class PassthroughHandler:
    def __init__(self, deps: Deps, *, idle_timeout_s: float) -> None:
        self._upstream = deps.upstream
        self._metrics = deps.metrics
        self._idle = idle_timeout_s

    async def __call__(
        self, request: web.Request, rec: RequestRecord, admitted: Admitted
    ) -> web.StreamResponse:
        req = admitted.request
        assert isinstance(req, PassthroughRequest)
        body = req.payload
        client_headers = request.headers
        trace = trace_context(client_headers)
        # Everything after `/v1`, query included, exactly as the client sent it.
        tail = request.raw_path[len("/v1") :]
        content_type = client_headers.get("Content-Type") if body else None

        def build(target: Target[CompiledProvider]) -> tuple[URL, CIMultiDict[str], bytes | None]:
            p = target.provider
            url = URL(p.base_url + tail, encoded=True)
            headers = upstream_headers(
                client_headers,
                p.auth_headers,
                p.dialect.forward_headers,
                content_type=content_type,
                extra=trace,
            )
            return url, headers, req.payload_for(target.model) or None

        resp = await open_with_fallback(
            self._upstream,
            self._metrics,
            rec,
            admitted.targets,
            build,
            self._idle,
            method=request.method,
        )
        call = Call(rec, None, openai.GENERIC, OPENAI_FAMILY, admitted.headers)
        ctype = resp.headers.get("Content-Type", "")
        if resp.status >= 300 or ctype.startswith("application/json"):
            return await relay_buffered(call, resp, self._idle, self._metrics)
        rec.stream = ctype.startswith(SSE_CONTENT_TYPE)
        tap = StreamTap(drop_usage_chunk=False) if rec.stream else None
        return await relay_stream(request, call, resp, tap, self._idle, self._metrics)
