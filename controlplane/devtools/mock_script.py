"""Pure logic of the mock provider: how a request scripts the reply, and the reply bodies.

Wire formats: OpenAI chat completions, legacy completions, embeddings and the
Responses API; Anthropic messages. `mock:no_usage` leaves usage out of every
reply (to exercise the gateway's estimates); `mock:cache_write=N` sets
Anthropic's `cache_creation_input_tokens` (and `mock:cached=N` its cache reads);
`mock:split` writes a stream in odd 7-byte pieces, and `mock:chunk_delay_ms=N`
spaces its events out. `mock:usage_strings`, `mock:usage_huge` and
`mock:usage_negative` make every token count of the usage malformed (`"12"`,
`1e30`, `-13`), as broken OpenAI-compatible servers send them.

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
    "x-mock-cache-write-tokens": "cache_write",
    "x-mock-chunk-delay-ms": "chunk_delay_ms",
}
_MAGIC_FIELDS = frozenset(_HEADERS.values())
# Boolean knobs: `mock:NAME`, or header `x-mock-NAME` (dashes) set to 1/true/yes.
_FLAGS = ("error_in_stream", "no_usage", "split")
# Malformed usage: knob (`mock:NAME`, or header `x-mock-bad-usage: NAME`) → a count's spoiling.
_BAD_USAGE = {
    "usage_strings": str,
    "usage_huge": lambda n: 1e30,
    "usage_negative": lambda n: -(n + 1),
}


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
    no_usage: bool = False
    cache_write: int | None = None
    # Stream: write the SSE bytes in odd 7-byte pieces (parsers must reassemble them).
    split: bool = False
    # Stream: wait this long between two events, like tokens being generated.
    chunk_delay_ms: int = 0
    # One of _BAD_USAGE: every main token count comes back malformed that way.
    bad_usage: str = ""


class BadRequest(ValueError):
    """The request body is not a chat completion request."""


def parse_script(headers: Mapping[str, str], body: Mapping[str, Any]) -> Script:
    values: dict[str, Any] = {}
    for header, field_name in _HEADERS.items():
        raw = headers.get(header)
        if raw is not None and raw.strip().isdigit():
            values[field_name] = int(raw)
    for flag in _FLAGS:
        if headers.get("x-mock-" + flag.replace("_", "-"), "").lower() in ("1", "true", "yes"):
            values[flag] = True
    if headers.get("x-mock-bad-usage") in _BAD_USAGE:
        values["bad_usage"] = headers["x-mock-bad-usage"]
    for name, number in _MAGIC.findall(last_user_text(body)):
        if name in _BAD_USAGE:
            values["bad_usage"] = name
        elif name in _FLAGS:
            values[name] = True
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
    """The last user message; for completions, responses and embeddings the prompt/input."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        messages = _as_messages(body)
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message)
    return ""


def _as_messages(body: Mapping[str, Any]) -> list[Any]:
    """`prompt` / `input` (a string, strings, or Responses input items) as user messages."""
    value = body.get("input", body.get("prompt"))
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, str):
                out.append({"role": "user", "content": v})
            elif isinstance(v, Mapping):
                out.append({"role": v.get("role", "user"), "content": _item_content(v)})
        return out
    return []


def _item_content(item: Mapping[str, Any]) -> Any:
    content = item.get("content")
    if isinstance(content, list):  # Responses parts are `input_text`
        return [
            {"type": "text", "text": p.get("text", "")}
            for p in content
            if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        ]
    return content


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


def validate_input(body: Any, field_name: str) -> None:
    """Completions (`prompt`), embeddings and responses (`input`) bodies."""
    if not isinstance(body, Mapping):
        raise BadRequest("request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("'model' is required")
    if body.get(field_name) is None:
        raise BadRequest(f"'{field_name}' is required")


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Whitespace-separated words across all message contents, plus 4 per message
    (Anthropic's `system` counts as one more message)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        messages = _as_messages(body)
    total = sum(len(message_text(m).split()) + 4 for m in messages if isinstance(m, Mapping))
    system = body.get("system")
    if system is not None:
        total += len(message_text({"content": system}).split()) + 4
    return total


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


def spoil(script: Script, counts: dict[str, Any]) -> dict[str, Any]:
    """`counts` as the script's broken server sends them (unchanged by default)."""
    bad = _BAD_USAGE.get(script.bad_usage)
    return counts if bad is None else {k: bad(v) for k, v in counts.items()}


def usage(body: Mapping[str, Any], script: Script) -> dict[str, Any]:
    prompt = prompt_tokens(body)
    completion = len(reply_words(script.words))
    result: dict[str, Any] = spoil(
        script,
        {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    )
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
        **({} if script.no_usage else {"usage": usage(body, script)}),
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
    if include_usage and not script.no_usage:
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


def reply_text(script: Script) -> str:
    return " ".join(reply_words(script.words))


def completions_body(
    body: Mapping[str, Any], script: Script, completion_id: str, created: int
) -> dict[str, Any]:
    """A legacy `/v1/completions` reply."""
    out: dict[str, Any] = {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": body["model"],
        "choices": [
            {"index": 0, "text": reply_text(script), "logprobs": None, "finish_reason": "stop"}
        ],
    }
    if not script.no_usage:
        out["usage"] = usage(body, script)
    return out


def completions_chunks(
    body: Mapping[str, Any], script: Script, completion_id: str, created: int
) -> list[dict[str, Any]]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": completion_id, "object": "text_completion", "created": created}
    base["model"] = body["model"]
    chunks = [
        {**base, "choices": [{"index": 0, "text": (" " if i else "") + w, "finish_reason": None}]}
        for i, w in enumerate(reply_words(script.words))
    ]
    chunks.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    if include_usage and not script.no_usage:
        chunks.append({**base, "choices": [], "usage": usage(body, script)})
    return chunks


def embeddings_body(body: Mapping[str, Any], script: Script) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    words = sum(len(str(x).split()) if isinstance(x, str) else len(x or ()) for x in items)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(0.01 * (i + k), 4) for k in range(8)],
        }
        for i in range(len(items))
    ]
    out: dict[str, Any] = {"object": "list", "data": data, "model": body["model"]}
    if not script.no_usage:
        out["usage"] = spoil(script, {"prompt_tokens": words, "total_tokens": words})
    return out


def responses_usage(body: Mapping[str, Any], script: Script) -> dict[str, Any]:
    prompt = prompt_tokens(body)
    completion = len(reply_words(script.words))
    main = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return {
        **spoil(script, main),
        "input_tokens_details": {"cached_tokens": script.cached or 0},
        "output_tokens_details": {"reasoning_tokens": script.reasoning or 0},
    }


def responses_body(
    body: Mapping[str, Any], script: Script, response_id: str, created: int, *, done: bool = True
) -> dict[str, Any]:
    """A Responses API `response` object (in progress, for `response.created`, or done)."""
    message = {
        "id": f"msg_{response_id}",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": reply_text(script), "annotations": []}],
    }
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "model": body["model"],
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": responses_usage(body, script) if done and not script.no_usage else None,
    }


def responses_events(
    body: Mapping[str, Any], script: Script, response_id: str, created: int
) -> list[dict[str, Any]]:
    """`response.created`, one `response.output_text.delta` per word, `response.completed`."""
    events: list[dict[str, Any]] = [
        {
            "type": "response.created",
            "response": responses_body(body, script, response_id, created, done=False),
        }
    ]
    for i, word in enumerate(reply_words(script.words)):
        events.append(
            {
                "type": "response.output_text.delta",
                "item_id": f"msg_{response_id}",
                "output_index": 0,
                "content_index": 0,
                "delta": (" " if i else "") + word,
            }
        )
    events.append(
        {
            "type": "response.completed",
            "response": responses_body(body, script, response_id, created),
        }
    )
    for n, event in enumerate(events):
        event["sequence_number"] = n
    return events


def anthropic_usage(body: Mapping[str, Any], script: Script, *, output: int) -> dict[str, Any]:
    """`input_tokens` excludes cache reads and writes, as Anthropic counts them."""
    read = script.cached or 0
    written = script.cache_write or 0
    main = {"input_tokens": max(prompt_tokens(body) - read - written, 0), "output_tokens": output}
    return {
        **spoil(script, main),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def messages_body(body: Mapping[str, Any], script: Script, message_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": reply_text(script)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    if not script.no_usage:
        out["usage"] = anthropic_usage(body, script, output=len(reply_words(script.words)))
    return out


def messages_events(
    body: Mapping[str, Any], script: Script, message_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of an Anthropic stream, message_start … message_stop."""
    start = messages_body(body, script, message_id)
    start["content"] = []
    start["stop_reason"] = None
    if not script.no_usage:
        start["usage"] = anthropic_usage(body, script, output=1)
    else:
        start.pop("usage", None)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for i, word in enumerate(reply_words(script.words)):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": (" " if i else "") + word},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    }
    if not script.no_usage:
        delta["usage"] = spoil(script, {"output_tokens": len(reply_words(script.words))})
    events.append(("message_delta", delta))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
    kinds |= {429: "rate_limit_error", 529: "overloaded_error"}
    return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}
