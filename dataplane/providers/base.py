"""WireFormats: how to read one API's bodies and streams. Pure: no I/O anywhere here.

A WireFormat is chosen by the endpoint the client called; how a provider is reached
(its Dialect, chosen by the credential's kind) is part of the contract
(oggy.contract.dialects), since the control plane validates it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dataplane.core.usage_extract import Usage

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
