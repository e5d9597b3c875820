"""The one mapper from errors to HTTP responses, in the caller's protocol.

OpenAI endpoints (and everything else) answer `{"error": {"message", "type",
"param", "code"}}`; `/v1/messages` answers Anthropic's `{"type": "error",
"error": {"type", "message"}, "request_id"}`, its `type` chosen by the HTTP
status the way Anthropic's API does, so each SDK raises its own exception class. A
GatewayError's `headers` (`Retry-After`, `x-ratelimit-*`) go out with it. Once
an SSE stream has started, an error is one final event in the same protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web

from dataplane.core.trace import REQUEST_ID_HEADER
from oggy.contract import errors
from oggy.contract.dialects import ANTHROPIC_FAMILY, OPENAI_FAMILY

log = logging.getLogger(__name__)

# aiohttp's own HTTP errors (unknown route, wrong method, oversize body) → ours.
_HTTP_STATUS_ERRORS: dict[int, type[errors.GatewayError]] = {
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.RequestTooLarge,
}
# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
ANTHROPIC_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    found = ANTHROPIC_ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(err: errors.GatewayError, protocol: str, request_id: str | None = None) -> bytes:
    if protocol != ANTHROPIC_FAMILY:
        return orjson.dumps(err.body())
    body: dict[str, object] = {
        "type": "error",
        "error": {"type": anthropic_error_type(err.status), "message": err.message},
    }
    if request_id:  # where Anthropic puts it too (its SDK quotes it in the exception)
        body["request_id"] = request_id
    return orjson.dumps(body)


def error_response(
    err: errors.GatewayError,
    protocol: str = OPENAI_FAMILY,
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
        out[REQUEST_ID_HEADER] = request_id
    return web.Response(
        status=err.status,
        body=error_body(err, protocol, request_id),
        content_type="application/json",
        headers=out or None,
    )


def sse_error_event(
    err: errors.GatewayError, protocol: str, request_id: str | None = None
) -> bytes:
    """The final event of a stream that cannot go on (the status line is already sent)."""
    data = b"data: " + error_body(err, protocol, request_id) + b"\n\n"
    return b"event: error\n" + data if protocol == ANTHROPIC_FAMILY else data


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
