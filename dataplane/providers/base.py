"""What every provider module provides: a Dialect (how to reach the provider) and
WireFormats (how to read one API's bodies and streams). Pure: no I/O anywhere here.

A Dialect is chosen by the credential's kind; a WireFormat by the endpoint the
client called. OpenAI, OpenAI-compatible and Azure OpenAI share the OpenAI wire
formats and differ only in URL and auth; Anthropic has its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dataplane.core.usage_extract import Usage

# Wire families: which endpoints a provider can serve without translation.
OPENAI_FAMILY = "openai"
ANTHROPIC_FAMILY = "anthropic"


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Compile-time facts a Dialect needs to build a URL (a CompiledProvider has them)."""

    base_url: str
    api_version: str = ""
    deployments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dialect:
    # The provider kind as the price catalog names it.
    kind: str
    family: str
    # (target, operation such as `chat/completions`, model) → absolute URL text.
    url: Callable[[UpstreamTarget, str, str], str]
    # The provider's API key → the headers that carry it (built once per config).
    auth_headers: Callable[[str], dict[str, str]]
    # Client headers worth forwarding (everything else is dropped).
    forward_headers: tuple[str, ...]
    # Headers added when the client did not send them.
    default_headers: tuple[tuple[str, str], ...] = ()
    # Serves arbitrary `/v1/*` paths verbatim (the OpenAI API surface).
    passthrough: bool = False


# observe(stream event object, usage so far) → (usage now, whether the event carries
# nothing but usage and may be hidden from a client that did not ask for it).
Observe = Callable[[dict[str, Any], Usage | None], tuple[Usage | None, bool]]


@dataclass(frozen=True, slots=True)
class WireFormat:
    name: str
    family: str
    # Usage of a whole (non-stream) response body.
    usage: Callable[[Any], Usage | None]
    observe: Observe
    # Generated text of a whole response / of one stream event (token estimates only).
    response_text: Callable[[Any], str]
    stream_text: Callable[[dict[str, Any]], str]


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")
