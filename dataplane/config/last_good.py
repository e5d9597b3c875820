"""The data plane's compile step: a workspace that stops compiling keeps serving its
last good version (oggy.contract.compile.last_good) instead of the whole snapshot
being NACKed, so one workspace never blocks every other workspace's updates."""

from __future__ import annotations

from oggy.contract.compile import CompiledConfig
from oggy.contract.compile.last_good import compile_keeping_last_good
from oggy.v1 import snapshot_pb2


class LastGoodCompiler:
    """A compile function for ConfigStreamClient that remembers what it served.

    Called once per config update, from one thread at a time (the client awaits each
    compile before the next), and every config it returns is served.
    """

    def __init__(self) -> None:
        self._served: snapshot_pb2.Snapshot | None = None

    def __call__(self, snapshot: snapshot_pb2.Snapshot) -> CompiledConfig:
        served = compile_keeping_last_good(snapshot, self._served)
        self._served = served.snapshot
        return served.config
