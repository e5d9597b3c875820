"""What a pass-through request (`/v1/*` forwarded verbatim) asks for. Pure.

Only the path and, for a JSON object body, its `model` are read: the path must
be a plain API path (no dot segments, no doubled slashes, no encoded dots) so it
cannot climb out of the provider's `/v1`; the model, when named, is what policy
and routing judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from oggy.contract import errors

MAX_MODEL_LEN = 256
_BAD_SEGMENTS = ("/../", "/./", "//")


@dataclass(frozen=True, slots=True)
class PassthroughRequest:
    # The body's `model`, or None when the body names none (or is not a JSON object).
    model: str | None
    payload: bytes  # the body, sent upstream as it came
    # The parsed body when it names a model (read-only by convention).
    body: dict[str, Any] | None = field(default=None, repr=False)

    def payload_for(self, model: str) -> bytes:
        """The body to send when routing serves the request with `model` (a route
        alias goes upstream as the model it resolves to, never by its own name)."""
        if self.body is None or not model or model == self.model:
            return self.payload
        return orjson.dumps({**self.body, "model": model})


def prepare_passthrough(raw_path: str, body: bytes, content_type: str) -> PassthroughRequest:
    """Raises InvalidRequest for a path that is not a plain API path."""
    path = raw_path.partition("?")[0]
    if any(s in path + "/" for s in _BAD_SEGMENTS) or "%2e" in path.lower():
        raise errors.InvalidRequest("The request path is not a plain API path.")
    parsed = _json_naming_a_model(body, content_type)
    if parsed is None:
        return PassthroughRequest(None, body)
    return PassthroughRequest(parsed["model"], body, parsed)


def _json_naming_a_model(body: bytes, content_type: str) -> dict[str, Any] | None:
    if not body or "json" not in content_type:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    model = obj.get("model")
    return obj if isinstance(model, str) and 0 < len(model) <= MAX_MODEL_LEN else None
