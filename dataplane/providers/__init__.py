"""One pure module per wire format: usage extraction and generated text of each API."""

from __future__ import annotations

from dataplane.providers.base import WireFormat

__all__ = ["WireFormat"]
