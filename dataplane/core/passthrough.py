"""What a pass-through request (`/v1/*` forwarded verbatim) asks for. Pure.

Only the path and, for a JSON object body, its `model` are read: the path must
be a plain API path (no dot segments, no doubled slashes, no encoded dots) so it
cannot climb out of the provider's `/v1`; the model, when named, is what policy
and routing judge.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from oggy.contract import errors

MAX_MODEL_LEN = 256
_BAD_SEGMENTS = ("/../", "/./", "//")


@dataclass(frozen=True, slots=True)
class PassthroughRequest:
    # The body's `model`, or None when the body names none (or is not a JSON object).
    model: str | None
    payload: bytes  # the body, sent upstream as it came


def prepare_passthrough(raw_path: str, body: bytes, content_type: str) -> PassthroughRequest:
    """Raises InvalidRequest for a path that is not a plain API path."""
    path = raw_path.partition("?")[0]
    if any(s in path + "/" for s in _BAD_SEGMENTS) or "%2e" in path.lower():
        raise errors.InvalidRequest("The request path is not a plain API path.")
    return PassthroughRequest(_model_of(body, content_type), body)


def _model_of(body: bytes, content_type: str) -> str | None:
    if not body or "json" not in content_type:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    model = obj.get("model") if isinstance(obj, dict) else None
    return model if isinstance(model, str) and 0 < len(model) <= MAX_MODEL_LEN else None
