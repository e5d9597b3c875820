"""The one HTTP error mapper: the body shape by the caller's protocol, the error's headers."""

from __future__ import annotations

import orjson
import pytest

from dataplane.http.errors import anthropic_error_type, error_response, sse_error_event
from oggy.contract import errors
from oggy.contract.dialects import ANTHROPIC_FAMILY, OPENAI_FAMILY


def body(resp: object) -> dict:
    return orjson.loads(resp.body)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("err", "status", "kind"),
    [
        (errors.KeyRevoked(), 401, "authentication_error"),
        (errors.ActorTokenRequired(), 401, "authentication_error"),
        (errors.ModelNotAllowed(), 403, "permission_error"),
        (errors.InvalidJson(), 400, "invalid_request_error"),
        (errors.MaxTokensExceeded(), 400, "invalid_request_error"),
        (errors.ModelNotFound(), 404, "not_found_error"),
        (errors.RequestTooLarge(), 413, "request_too_large"),
        (errors.MethodNotAllowed(), 405, "invalid_request_error"),
        (errors.UpstreamUnavailable(), 502, "api_error"),
        (errors.UpstreamTimeout(), 504, "timeout_error"),
        (errors.NotReady(), 503, "overloaded_error"),
        (errors.GatewayError(), 500, "api_error"),
    ],
)
def test_anthropic_shape_by_status(err: errors.GatewayError, status: int, kind: str) -> None:
    resp = error_response(err, ANTHROPIC_FAMILY, "req-1")
    assert resp.status == status
    assert body(resp) == {
        "type": "error",
        "error": {"type": kind, "message": err.message},
        "request_id": "req-1",
    }
    assert resp.headers["X-Request-Id"] == "req-1"


def test_rate_limits_map_to_rate_limit_error() -> None:
    assert anthropic_error_type(429) == "rate_limit_error"
    assert anthropic_error_type(529) == "overloaded_error"
    assert anthropic_error_type(418) == "invalid_request_error"


def test_openai_shape_is_unchanged() -> None:
    resp = error_response(errors.ModelNotFound("no such model", param="model"), OPENAI_FAMILY)
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


@pytest.mark.parametrize("protocol", [OPENAI_FAMILY, ANTHROPIC_FAMILY])
def test_error_headers_go_out_with_the_error(protocol: str) -> None:
    limited = errors.GatewayError("slow down", headers={"Retry-After": "7"})
    limited.status = 429
    resp = error_response(limited, protocol, "r", {"x-ratelimit-remaining-requests": "0"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["x-ratelimit-remaining-requests"] == "0"
    assert errors.GatewayError().headers is None  # per instance, never shared


def test_sse_error_event_per_protocol() -> None:
    openai_event = sse_error_event(errors.UpstreamTimeout("stalled"), OPENAI_FAMILY)
    assert openai_event.startswith(b"data: ") and openai_event.endswith(b"\n\n")
    assert orjson.loads(openai_event[6:])["error"]["code"] == "upstream_timeout"
    event = sse_error_event(errors.UpstreamTimeout("stalled"), ANTHROPIC_FAMILY, "r-9")
    name, data = event.rstrip(b"\n").split(b"\n")
    assert name == b"event: error"
    assert orjson.loads(data.removeprefix(b"data: ")) == {
        "type": "error",
        "error": {"type": "timeout_error", "message": "stalled"},
        "request_id": "r-9",
    }
