"""The compiled config the data plane serves right now.

Swapping `current` is one attribute assignment, so a request that already
read it keeps a consistent config to the end, and no lock is needed on the
event loop.
"""

from __future__ import annotations

from oggy.contract.compile import CompiledConfig


class ConfigHolder:
    __slots__ = ("current",)

    def __init__(self, initial: CompiledConfig | None = None) -> None:
        self.current: CompiledConfig | None = initial

    def apply(self, cfg: CompiledConfig) -> None:
        self.current = cfg

    @property
    def revision(self) -> int | None:
        return None if self.current is None else self.current.revision
