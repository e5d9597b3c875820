"""Validate an API request body and prepare what goes upstream. Pure.

One preparer per endpoint (chat completions, completions, embeddings,
responses, Anthropic messages); all share the rules:
- the destination and the credential come only from config: body fields that
  some SDKs and proxies use to steer a request (`api_base`, `api_key`, ...) are
  removed, never read;
- for chat and completion streams the gateway always asks upstream for usage
  (`stream_options.include_usage`); whether the client asked too decides if
  the usage chunk is shown to it (Responses and Anthropic streams always carry
  usage);
- every integer field is bounded (`request_numbers`): a value no request can
  mean is refused before it is forwarded or recorded;
- the body is re-serialised only when something changed, or when routing sends
  it to a different model (`payload_for`): most requests go up byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson

from dataplane.core.request_numbers import check_integers
from oggy.contract import errors
from oggy.contract.policy import cap_max_tokens_fields

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
    """A prepared request of any endpoint (the name is historical)."""

    model: str
    stream: bool
    # Whether the client itself asked for `stream_options.include_usage`.
    client_wants_usage: bool
    max_output_tokens: int | None  # as forwarded (after a CAP policy lowered or set it)
    payload: bytes  # the body to send upstream for `model`
    # The prompt as chat-style messages, kept only to estimate tokens if usage never comes.
    messages: list[Any]
    # The sanitised parsed body (read-only by convention; prompt metadata reads it).
    body: dict[str, Any] = field(default_factory=dict, repr=False)
    # The `model` value inside `payload` (None when the body has none, e.g. Azure paths).
    body_model: str | None = None
    # The output-token bound as the client asked, before any CAP policy changed it: what
    # a REJECT bound judges.
    requested_max_output_tokens: int | None = None
    # The endpoint's output-token fields, preferred first (none: embeddings).
    output_fields: tuple[str, ...] = ()

    def with_output_bound(self, bound: int) -> ChatRequest:
        """This request with its output capped at `bound` (what quota reserved for it)."""
        body = dict(self.body)
        if not cap_max_tokens_fields(body, self.output_fields, bound):
            return self
        return replace(
            self,
            payload=orjson.dumps(body),
            body=body,
            max_output_tokens=_max_tokens(body, self.output_fields),
        )

    def payload_for(self, model: str) -> bytes:
        """The body to send when routing serves the request with `model`."""
        if model == self.body_model:
            return self.payload
        return orjson.dumps({**self.body, "model": model})


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise errors.InvalidJson(f"The request body is not valid JSON: {e.msg}.") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object.")
    return body


def _model(body: dict[str, Any], override: str | None) -> str:
    model = override if override is not None else body.get("model")
    if not isinstance(model, str) or not model:
        raise errors.InvalidRequest("`model` must be a non-empty string.", param="model")
    if len(model) > MAX_MODEL_LEN:
        raise errors.InvalidRequest("`model` is too long.", param="model")
    return model


def _stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise errors.InvalidRequest("`stream` must be a boolean.", param="stream")
    return stream


def _max_tokens(body: dict[str, Any], names: tuple[str, ...]) -> int | None:
    """The first max-output field given (already bounded by `check_integers`)."""
    for name in names:
        v = body.get(name)
        if v is not None:
            return v  # type: ignore[no-any-return]
    return None


def _texts(value: Any) -> list[dict[str, Any]]:
    """A prompt/input value (string, list of strings or of items) as chat-style messages."""
    if isinstance(value, str):
        return [{"content": value}]
    if isinstance(value, list):
        out: list[dict[str, Any]] = []
        for v in value:
            if isinstance(v, str):
                out.append({"content": v})
            elif isinstance(v, dict):
                out.append(v)
        return out
    return []


@dataclass(frozen=True, slots=True)
class _Shape:
    # A non-empty array field the endpoint requires (`messages`), if any.
    required_list: str | None
    # Fields that must be present at all (`input` of embeddings).
    required: tuple[str, ...]
    max_fields: tuple[str, ...]
    inject_usage: bool
    prompt: Callable[[dict[str, Any]], list[Any]]
    streams: bool = True


def _prepare(
    raw: bytes, shape: _Shape, model_override: str | None, max_tokens_cap: int = 0
) -> ChatRequest:
    body = parse_json_object(raw)
    model = _model(body, model_override)
    if shape.required_list is not None:
        items = body.get(shape.required_list)
        if not isinstance(items, list) or not items:
            raise errors.InvalidRequest(
                f"`{shape.required_list}` must be a non-empty array.", param=shape.required_list
            )
    for name in shape.required:
        if body.get(name) is None:
            raise errors.InvalidRequest(f"`{name}` is required.", param=name)
    stream = _stream(body) if shape.streams else False
    check_integers(body)

    changed = False
    if not STEERING_FIELDS.isdisjoint(body):
        for f in STEERING_FIELDS.intersection(body):
            del body[f]
        changed = True

    client_wants_usage = False
    if stream and shape.inject_usage:
        options = body.get("stream_options")
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

    requested_max = _max_tokens(body, shape.max_fields)
    if max_tokens_cap and shape.max_fields:
        # A CAP policy (policy.max_tokens_cap): lower or set the bound.
        changed = cap_max_tokens_fields(body, shape.max_fields, max_tokens_cap) or changed

    body_model = body.get("model")
    return ChatRequest(
        model=model,
        stream=stream,
        client_wants_usage=client_wants_usage,
        max_output_tokens=_max_tokens(body, shape.max_fields),
        payload=orjson.dumps(body) if changed else raw,
        messages=shape.prompt(body),
        body=body,
        body_model=body_model if isinstance(body_model, str) else None,
        requested_max_output_tokens=requested_max,
        output_fields=shape.max_fields,
    )


def _messages(body: dict[str, Any]) -> list[Any]:
    return body["messages"]


def _anthropic_prompt(body: dict[str, Any]) -> list[Any]:
    system = body.get("system")
    head = _texts(system) if system is not None else []
    return head + body["messages"]


_CHAT = _Shape("messages", (), ("max_completion_tokens", "max_tokens"), True, _messages)
_COMPLETIONS = _Shape(None, (), ("max_tokens",), True, lambda b: _texts(b.get("prompt")))
_EMBEDDINGS = _Shape(None, ("input",), (), False, lambda b: _texts(b.get("input")), False)
_RESPONSES = _Shape(None, (), ("max_output_tokens",), False, lambda b: _texts(b.get("input")))
_MESSAGES = _Shape("messages", (), ("max_tokens",), False, _anthropic_prompt)


class Preparer(Protocol):
    """Parse and check one endpoint's body: `prepare_chat(raw, model, max_tokens_cap=…)`."""

    def __call__(
        self, raw: bytes, model: str | None = None, *, max_tokens_cap: int = 0
    ) -> ChatRequest: ...


def _preparer(shape: _Shape) -> Preparer:
    def prepare(raw: bytes, model: str | None = None, *, max_tokens_cap: int = 0) -> ChatRequest:
        return _prepare(raw, shape, model, max_tokens_cap)

    return prepare


prepare_chat = _preparer(_CHAT)
prepare_completions = _preparer(_COMPLETIONS)
prepare_embeddings = _preparer(_EMBEDDINGS)
prepare_responses = _preparer(_RESPONSES)
prepare_messages = _preparer(_MESSAGES)
