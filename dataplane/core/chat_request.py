"""Validate a chat completion request body and prepare what goes upstream. Pure.

The destination and the credential come only from config: body fields that
some SDKs and proxies use to steer a request (`api_base`, `api_key`, ...) are
removed, never read. For streams the gateway always asks upstream for usage;
whether the client asked too decides if the usage chunk is shown to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from dataplane.core import errors

MAX_MODEL_LEN = 256
# Fields that could redirect a request or swap its credential in some client or proxy.
STEERING_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_type",
        "api_version",
        "organization",
        "project",
        "azure_endpoint",
        "azure_deployment",
        "azure_ad_token",
        "deployment_id",
        "extra_headers",
        "headers",
        "default_headers",
    }
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    stream: bool
    # Whether the client itself asked for `stream_options.include_usage`.
    client_wants_usage: bool
    max_output_tokens: int | None
    payload: bytes  # the body to send upstream
    # The request's messages, kept only to estimate prompt tokens if usage never comes.
    messages: list[Any]


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.InvalidJson(f"The request body is not valid JSON: {e.msg}.") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return body


def prepare_chat(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise errors.InvalidRequest("`model` must be a non-empty string.", param="model")
    if len(model) > MAX_MODEL_LEN:
        raise errors.InvalidRequest("`model` is too long.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise errors.InvalidRequest("`messages` must be a non-empty array.", param="messages")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise errors.InvalidRequest("`stream` must be a boolean.", param="stream")

    changed = False
    if not STEERING_FIELDS.isdisjoint(body):
        for f in STEERING_FIELDS.intersection(body):
            del body[f]
        changed = True

    client_wants_usage = False
    options = body.get("stream_options")
    if stream:
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise errors.InvalidRequest(
                "`stream_options` must be an object.", param="stream_options"
            )
        client_wants_usage = options.get("include_usage") is True
        if not client_wants_usage:
            body["stream_options"] = {**options, "include_usage": True}
            changed = True

    return ChatRequest(
        model=model,
        stream=stream,
        client_wants_usage=client_wants_usage,
        max_output_tokens=_max_tokens(body),
        # Re-serialise only when something changed: most requests go up byte for byte.
        payload=orjson.dumps(body) if changed else raw,
        messages=messages,
    )


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        v = body.get(name)
        if v is None:
            continue
        if type(v) is not int or v < 0:
            raise errors.InvalidRequest(f"`{name}` must be a non-negative integer.", param=name)
        return v
    return None
