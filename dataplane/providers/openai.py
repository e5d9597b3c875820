"""The OpenAI wire formats (OpenAI, OpenAI-compatible servers and Azure OpenAI).

Wire formats: chat completions, legacy completions and embeddings share the
`usage` object (`prompt_tokens` includes `prompt_tokens_details.cached_tokens`;
`completion_tokens` includes `completion_tokens_details.reasoning_tokens`);
the Responses API names them `input_tokens` / `output_tokens` with
`input_tokens_details.cached_tokens` / `output_tokens_details.reasoning_tokens`,
and streams its usage in the `response.completed` event.
"""

from __future__ import annotations

from typing import Any

from dataplane.core.choice_parts import choices, message_parts
from dataplane.core.usage_extract import Usage, extract_usage
from dataplane.providers.base import WireFormat
from oggy.contract.dialects import OPENAI_FAMILY

# Responses stream events that end a response and carry its usage.
_RESPONSE_END_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


# ---------------------------------------------------------------- chat / completions / embeddings


def chat_usage(body: Any) -> Usage | None:
    return extract_usage(body.get("usage")) if isinstance(body, dict) else None


def observe_chat(obj: dict[str, Any], current: Usage | None) -> tuple[Usage | None, bool]:
    """With `stream_options.include_usage` the last chunk has `usage` and empty `choices`."""
    usage = extract_usage(obj.get("usage"))
    if usage is None:
        return current, False
    return usage, not obj.get("choices")


def chat_text(body: Any) -> str:
    """Generated text of a chat or legacy completion (message content, tool args, text)."""
    return _choices_text(body, "message")


def chat_stream_text(obj: dict[str, Any]) -> str:
    return _choices_text(obj, "delta")


def _choices_text(body: Any, message_key: str) -> str:
    """Text of every choice: its `text`, then its `message_key` message's parts."""
    parts: list[str] = []
    for choice in choices(body):
        if isinstance(choice.get("text"), str):
            parts.append(choice["text"])
        message_parts(choice.get(message_key), parts)
    return "".join(parts)


def _nothing(_: Any) -> str:
    return ""


def _no_stream(obj: dict[str, Any], current: Usage | None) -> tuple[Usage | None, bool]:
    return current, False


# ---------------------------------------------------------------- responses


_RESPONSES_USAGE_NAMES = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_tokens_details",
    "output_tokens_details",
)


def extract_responses_usage(usage: Any) -> Usage | None:
    return extract_usage(usage, _RESPONSES_USAGE_NAMES)


def responses_usage(body: Any) -> Usage | None:
    return extract_responses_usage(body.get("usage")) if isinstance(body, dict) else None


def observe_responses(obj: dict[str, Any], current: Usage | None) -> tuple[Usage | None, bool]:
    if obj.get("type") in _RESPONSE_END_EVENTS:
        usage = responses_usage(obj.get("response"))
        if usage is not None:
            return usage, False
    return current, False


def responses_text(body: Any) -> str:
    output = body.get("output") if isinstance(body, dict) else None
    parts: list[str] = []
    for item in output if isinstance(output, list) else ():
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        if isinstance(item, dict) and isinstance(item.get("arguments"), str):
            parts.append(item["arguments"])
    return "".join(parts)


def responses_stream_text(obj: dict[str, Any]) -> str:
    if obj.get("type") in ("response.output_text.delta", "response.function_call_arguments.delta"):
        delta = obj.get("delta")
        return delta if isinstance(delta, str) else ""
    return ""


CHAT = WireFormat("chat", OPENAI_FAMILY, chat_usage, observe_chat, chat_text, chat_stream_text)
COMPLETIONS = WireFormat(
    "completions", OPENAI_FAMILY, chat_usage, observe_chat, chat_text, chat_stream_text
)
EMBEDDINGS = WireFormat("embeddings", OPENAI_FAMILY, chat_usage, _no_stream, _nothing, _nothing)
RESPONSES = WireFormat(
    "responses",
    OPENAI_FAMILY,
    responses_usage,
    observe_responses,
    responses_text,
    responses_stream_text,
)
# Any other OpenAI path: a `usage` object is read if one is there, nothing is assumed.
GENERIC = WireFormat("generic", OPENAI_FAMILY, chat_usage, observe_chat, _nothing, _nothing)
