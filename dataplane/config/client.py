"""ConfigStreamClient: keeps the data plane's config in step with the control plane.

One long-lived StreamConfig call at a time. Every response is compiled and either
applied and ACKed, or NACKed with the reason while the old config keeps serving.
The stream is reopened forever with jittered backoff; losing it never touches the
config being served (static stability). Optionally the last good snapshot is kept
in a file and loaded before the first connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import grpc

from dataplane.backoff import Backoff
from dataplane.config.freshness import ConfigFreshness
from dataplane.config.snapshot_file import (
    SnapshotFileError,
    read_snapshot_file,
    write_snapshot_file,
)
from dataplane.grpc_client import auth_metadata, node_of, open_channel
from dataplane.settings import Settings
from dataplane.stream_attempt import StateLog, StreamFailed, attempt_stream
from oggy.contract.compile import ConfigError
from oggy.contract.snapshot import (
    DeltaError,
    SchemaVersionError,
    apply_delta,
    check_schema_version,
)
from oggy.v1 import config_service_pb2, config_service_pb2_grpc, snapshot_pb2

log = logging.getLogger(__name__)

C = TypeVar("C")
CompileFn = Callable[[snapshot_pb2.Snapshot], C]


class ConfigHolderLike(Protocol[C]):
    def apply(self, cfg: C, /) -> None: ...


class ConfigStreamClient(Generic[C]):
    def __init__(
        self,
        settings: Settings,
        holder: ConfigHolderLike[C],
        compile_fn: CompileFn[C],
        *,
        channel: grpc.aio.Channel | None = None,
        backoff: Backoff | None = None,
        freshness: ConfigFreshness | None = None,
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._compile = compile_fn
        self._own_channel = channel is None
        self._channel = channel
        self._backoff = backoff or Backoff(0.1, 5.0)
        # Told when the control plane is heard from and when it goes quiet.
        self._freshness = freshness
        self._snapshot: snapshot_pb2.Snapshot | None = None
        # The compiler's warnings on the config being served, sent with each ACK.
        self._warnings: tuple[str, ...] = ()
        self._task: asyncio.Task[None] | None = None
        # (state, status code) last logged: a retry loop logs a change once, not per attempt.
        self._state_log = StateLog(log)
        self.connected = False

    @property
    def serving_revision(self) -> int:
        return self._snapshot.revision if self._snapshot is not None else 0

    async def start(self) -> None:
        """Load the snapshot file (if any) and start streaming in the background."""
        if self._settings.snapshot_file is not None:
            await self._load_snapshot_file(self._settings.snapshot_file)
        if self._channel is None:
            self._channel = open_channel(self._settings)
        self._task = asyncio.create_task(self._run(), name="config-stream")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._own_channel and self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _load_snapshot_file(self, path: Path) -> None:
        try:
            snapshot = await asyncio.to_thread(read_snapshot_file, path, self._settings.node_token)
        except SnapshotFileError as e:
            # Start without it (the control plane will send config) rather than crash.
            log.warning("ignoring snapshot file: %s", e)
            return
        if snapshot is None:
            log.info("no snapshot file at %s yet; waiting for the control plane", path)
            return
        try:
            check_schema_version(snapshot.schema_version)
            compiled = await asyncio.to_thread(self._compile, snapshot)
        except Exception as e:
            log.warning("snapshot file %s (revision %d) rejected: %s", path, snapshot.revision, e)
            return
        self._holder.apply(compiled)
        self._snapshot = snapshot
        log.info("serving revision %d from snapshot file %s", snapshot.revision, path)
        if self._freshness is not None:
            # Written on every ACK: the last time a control plane was heard from.
            try:
                written = (await asyncio.to_thread(path.stat)).st_mtime
            except OSError:
                written = 0.0  # unknown: as old as can be
            self._freshness.quiet(time.time() - written)

    async def _run(self) -> None:
        while True:
            await attempt_stream(
                self._stream_once, self._disconnected, self._backoff, log, "config"
            )

    async def _stream_once(self) -> None:
        assert self._channel is not None
        stub = config_service_pb2_grpc.ConfigDiscoveryServiceStub(self._channel)
        # Waiting for the channel to connect makes its reconnect backoff the only one
        # while the control plane is unreachable (ours is for calls it answers).
        call = stub.StreamConfig(
            metadata=auth_metadata(self._settings.node_token), wait_for_ready=True
        )
        try:
            await call.write(
                config_service_pb2.StreamConfigRequest(
                    node=node_of(self._settings),
                    serving_revision=self.serving_revision,
                )
            )
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise StreamFailed("EOF", "stream closed by the control plane")
                self._connected()
                error_detail = await self._handle(response)
                # Persist before the ACK, so an ACKed revision is also the one a
                # restart without a control plane comes back with.
                if not error_detail and self._settings.snapshot_file is not None:
                    await self._persist(self._settings.snapshot_file)
                await call.write(
                    config_service_pb2.StreamConfigRequest(
                        response_nonce=response.nonce,
                        error_detail=error_detail,
                        compile_warnings=() if error_detail else self._warnings,
                    )
                )
        finally:
            call.cancel()

    async def _handle(self, response: config_service_pb2.StreamConfigResponse) -> str:
        """Apply one response; return "" (ACK) or the NACK reason."""
        try:
            snapshot = self._next_snapshot(response)
            # Compiling a big snapshot is CPU work; keep the event loop serving meanwhile.
            compiled = await asyncio.to_thread(self._compile, snapshot)
        except Exception as e:
            # Anything that stops a config from being served is a NACK, never a dead
            # stream; only the expected kinds are quiet about their traceback.
            detail = str(e) or type(e).__name__
            if not isinstance(e, DeltaError | ConfigError | SchemaVersionError):
                log.exception("unexpected error compiling config")
            log.warning(
                "rejected config (nonce %s), still serving revision %d: %s",
                response.nonce,
                self.serving_revision,
                detail,
            )
            return detail
        self._holder.apply(compiled)
        self._snapshot = snapshot
        # CompiledConfig has warnings; other compile functions (tests) may not.
        self._warnings = tuple(getattr(compiled, "warnings", ()))
        log.info("serving config revision %d", snapshot.revision)
        return ""

    def _next_snapshot(
        self, response: config_service_pb2.StreamConfigResponse
    ) -> snapshot_pb2.Snapshot:
        kind = response.WhichOneof("payload")
        if kind == "snapshot":
            check_schema_version(response.snapshot.schema_version)
            return response.snapshot
        if kind == "delta":
            check_schema_version(response.delta.schema_version)
            if self._snapshot is None:
                raise DeltaError("delta received but no snapshot is being served")
            return apply_delta(self._snapshot, response.delta)
        raise DeltaError("response carries neither a snapshot nor a delta")

    async def _persist(self, path: Path) -> None:
        assert self._snapshot is not None
        try:
            await asyncio.to_thread(
                write_snapshot_file, path, self._snapshot, self._settings.node_token
            )
        except OSError as e:
            # Serving is unaffected; only a cold start without a control plane is.
            log.warning("cannot write snapshot file %s: %s", path, e)

    def _connected(self) -> None:
        self.connected = True
        if self._freshness is not None:
            self._freshness.heard()
        self._backoff.reset()
        self._state_log.connected("config stream connected to %s", self._settings.control_plane)

    def _disconnected(self, code: str, detail: str) -> None:
        self.connected = False
        if self._freshness is not None:
            self._freshness.quiet()
        self._state_log.disconnected(
            code,
            "config stream to %s down (%s: %s); serving revision %d, retrying",
            self._settings.control_plane,
            code,
            detail,
            self.serving_revision,
        )
