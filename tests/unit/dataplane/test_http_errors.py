"""The one HTTP error mapper: OpenAI's body shape, the error's headers."""

from __future__ import annotations

import orjson

from dataplane.http.errors import error_response, sse_error_event
from oggy.contract import errors


def body(resp: object) -> dict:
    return orjson.loads(resp.body)  # type: ignore[attr-defined]


def test_openai_shape_is_unchanged() -> None:
    resp = error_response(errors.ModelNotFound("no such model", param="model"))
    assert resp.status == 404
    assert body(resp) == {
        "error": {
            "message": "no such model",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    assert "X-Request-Id" not in resp.headers


def test_error_headers_go_out_with_the_error() -> None:
    limited = errors.GatewayError("slow down", headers={"Retry-After": "7"})
    limited.status = 429
    resp = error_response(limited, "r", {"x-ratelimit-remaining-requests": "0"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["x-ratelimit-remaining-requests"] == "0"
    assert resp.headers["X-Request-Id"] == "r"
    assert errors.GatewayError().headers is None  # per instance, never shared


def test_sse_error_event() -> None:
    event = sse_error_event(errors.UpstreamTimeout("stalled"))
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert orjson.loads(event[6:])["error"]["code"] == "upstream_timeout"
