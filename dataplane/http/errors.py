"""The one mapper from errors to HTTP responses (OpenAI error shape).

A GatewayError's `headers` (`Retry-After`, `x-ratelimit-*`) go out with it.
Once an SSE stream has started, an error is one final event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web

from oggy.contract import errors

log = logging.getLogger(__name__)

# aiohttp's own HTTP errors (unknown route, wrong method, oversize body) → ours.
_HTTP_STATUS_ERRORS: dict[int, type[errors.GatewayError]] = {
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.RequestTooLarge,
}


def error_response(
    err: errors.GatewayError,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """`headers`: the request's own response headers (admission's), beside the error's."""
    out: dict[str, str] = {}
    if headers:
        out.update(headers)
    if err.headers:
        out.update(err.headers)
    if request_id:
        out["X-Request-Id"] = request_id
    return web.Response(
        status=err.status,
        body=orjson.dumps(err.body()),
        content_type="application/json",
        headers=out or None,
    )


def sse_error_event(err: errors.GatewayError) -> bytes:
    """The final event of a stream that cannot go on (the status line is already sent)."""
    return b"data: " + orjson.dumps(err.body()) + b"\n\n"


@web.middleware
async def error_middleware(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    """Errors outside the API handlers (which map their own): routing, ops endpoints."""
    try:
        return await handler(request)
    except errors.GatewayError as e:
        return error_response(e)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        cls = _HTTP_STATUS_ERRORS.get(e.status)
        err = cls() if cls is not None else errors.InvalidRequest(e.reason)
        if e.status not in _HTTP_STATUS_ERRORS:
            err.status = e.status
        return error_response(err)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(errors.GatewayError())
