"""Pure logic of the mock provider: how a request scripts the reply, and the reply bodies.

No I/O here, so the scripting rules and the usage arithmetic are tested without a server.
The data plane forwards only an allowlist of client headers, so every knob can be set
both by an `x-mock-*` header and by a magic string in the last user message; the magic
string wins because it is the one that survives the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DEFAULT_WORDS = 12
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "o3-mini")

# Fixed vocabulary: replies look like text, and are identical for identical requests.
_TEXT = (
    "the quick brown fox jumps over a lazy dog while gateway tokens flow through "
    "every request and each reply is counted priced and recorded so finance can "
    "see where money goes and engineers can see latency errors retries models "
    "budgets limits keys actors teams workflows streams chunks usage events"
)
_VOCABULARY = tuple(_TEXT.split())

_MAGIC = re.compile(r"mock:([a-z_]+)(?:=([0-9]+))?")

# header name -> Script field; values are integers except the error flag.
_HEADERS = {
    "x-mock-status": "status",
    "x-mock-delay-ms": "delay_ms",
    "x-mock-stall-after": "stall_after",
    "x-mock-words": "words",
    "x-mock-cached-tokens": "cached",
    "x-mock-reasoning-tokens": "reasoning",
}
_MAGIC_FIELDS = frozenset(_HEADERS.values())


@dataclass(frozen=True, slots=True)
class Script:
    """What one request asked the mock to do."""

    status: int = 200
    delay_ms: int = 0
    # Stream: stop sending (but keep the connection open) after this many chunks.
    stall_after: int | None = None
    words: int = DEFAULT_WORDS
    cached: int | None = None
    reasoning: int | None = None
    error_in_stream: bool = False


class BadRequest(ValueError):
    """The request body is not a chat completion request."""


def parse_script(headers: Mapping[str, str], body: Mapping[str, Any]) -> Script:
    values: dict[str, Any] = {}
    for header, field_name in _HEADERS.items():
        raw = headers.get(header)
        if raw is not None and raw.strip().isdigit():
            values[field_name] = int(raw)
    if headers.get("x-mock-error-in-stream", "").lower() in ("1", "true", "yes"):
        values["error_in_stream"] = True
    for name, number in _MAGIC.findall(last_user_text(body)):
        if name == "error_in_stream":
            values["error_in_stream"] = True
        elif name in _MAGIC_FIELDS and number:
            values[name] = int(number)
    return Script(**values)


def message_text(message: Mapping[str, Any]) -> str:
    """Text of a message whose content is a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def last_user_text(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message)
    return ""


def validate_request(body: Any) -> None:
    if not isinstance(body, Mapping):
        raise BadRequest("request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("'model' is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array")
    if not all(isinstance(m, Mapping) for m in messages):
        raise BadRequest("each message must be an object")


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Whitespace-separated words across all message contents, plus 4 per message."""
    messages = body.get("messages") or []
    return sum(len(message_text(m).split()) + 4 for m in messages if isinstance(m, Mapping))


@lru_cache(maxsize=256)
def reply_words(count: int) -> tuple[str, ...]:
    """A fixed pseudo-random sentence of `count` words (an LCG walk over the vocabulary)."""
    words = []
    state = 17
    for _ in range(max(count, 0)):
        state = (state * 1103515245 + 12345) % 2**31
        # The high bits: an LCG's low bits cycle with a short period.
        words.append(_VOCABULARY[(state >> 16) % len(_VOCABULARY)])
    return tuple(words)


def usage(body: Mapping[str, Any], script: Script) -> dict[str, Any]:
    prompt = prompt_tokens(body)
    completion = len(reply_words(script.words))
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if script.cached is not None:
        result["prompt_tokens_details"] = {"cached_tokens": script.cached}
    if script.reasoning is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": script.reasoning}
    return result


def completion_body(
    body: Mapping[str, Any], script: Script, completion_id: str, created: int
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "fp_mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(reply_words(script.words))},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage(body, script),
    }


def stream_chunks(
    body: Mapping[str, Any], script: Script, completion_id: str, created: int
) -> list[dict[str, Any]]:
    """Every SSE payload of a stream, in order: one chunk per word, the finish chunk, and
    (when `stream_options.include_usage`) a usage chunk with empty `choices`."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "fp_mock",
    }
    # OpenAI sends `usage: null` on every chunk when usage was asked for.
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    chunks = []
    for i, word in enumerate(reply_words(script.words)):
        delta: dict[str, Any] = {"content": word if i == 0 else " " + word}
        if i == 0:
            delta = {"role": "assistant", **delta}
        chunks.append(
            {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
                **extra,
            }
        )
    chunks.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
            **extra,
        }
    )
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage(body, script)})
    return chunks


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    codes = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    return {"error": {"message": message, "type": kind, "param": None, "code": codes.get(status)}}


def models_body(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in models],
    }
