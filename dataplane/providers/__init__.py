"""One pure module per provider kind: URL, auth, wire formats and usage extraction."""

from __future__ import annotations

from dataplane.providers.anthropic import ANTHROPIC
from dataplane.providers.azure import AZURE
from dataplane.providers.base import (
    ANTHROPIC_FAMILY,
    OPENAI_FAMILY,
    Dialect,
    UpstreamTarget,
    WireFormat,
)
from dataplane.providers.openai import OPENAI, OPENAI_COMPATIBLE
from oggy.v1 import provider_pb2

_Kind = provider_pb2.ProviderCredential

DIALECTS: dict[int, Dialect] = {
    _Kind.KIND_UNSPECIFIED: OPENAI_COMPATIBLE,
    _Kind.KIND_OPENAI: OPENAI,
    _Kind.KIND_OPENAI_COMPATIBLE: OPENAI_COMPATIBLE,
    _Kind.KIND_AZURE_OPENAI: AZURE,
    _Kind.KIND_ANTHROPIC: ANTHROPIC,
}


def dialect_for(kind: int) -> Dialect | None:
    return DIALECTS.get(kind)


__all__ = [
    "ANTHROPIC_FAMILY",
    "DIALECTS",
    "OPENAI_FAMILY",
    "Dialect",
    "UpstreamTarget",
    "WireFormat",
    "dialect_for",
]
