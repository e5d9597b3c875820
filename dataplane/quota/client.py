"""QuotaLeaseClient: the data plane's end of StreamLeases (proto/oggy/v1/quota_protocol.md).

One stream at a time, node-token authenticated like the config and usage streams
(same channel options, backoff and retry loop). The first message carries the node
and a report; then a report goes out every `report_interval` (the control plane's,
default 0.5 s) and early — no more often than every 50 ms — when the table asks
(free quota under 25 % of held, or a refusal). Each lease response is applied to the
table (held = max(used, granted)) and acknowledged by `applied_sequence` in the next
report. A control plane that is not the allocator answers with `leader`: the client
opens its stream there (same token), and goes back to the configured control plane
when that stream fails; with no leader elected yet it asks again after
`report_interval`. Expiry needs nothing here: the table falls back by itself when no
lease response came within the leases' time to live (protocol 9).

How a response without leases is told apart (the proto does not say): `leader` set
is a redirect; `leader` empty with `data_plane_count` 0 is "no allocator elected
yet" (an allocator counts at least the node it answers); anything else is a lease
response.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

import grpc

from dataplane.backoff import Backoff
from dataplane.config.holder import ConfigHolder
from dataplane.grpc_client import auth_metadata, node_of, open_channel
from dataplane.quota.table import QuotaTable
from dataplane.settings import Settings
from dataplane.stream_attempt import StateLog, StreamFailed, attempt_stream
from oggy.contract.compile import CompiledConfig
from oggy.contract.compile.quota import QuotaRule
from oggy.contract.leases import DEFAULT_LEASE_TTL_S, DEFAULT_REPORT_INTERVAL_S
from oggy.v1 import quota_service_pb2, quota_service_pb2_grpc

log = logging.getLogger(__name__)

EARLY_REPORT_MIN_S = 0.05  # protocol 2: early reports no more often than this


class ServedRules:
    """The quota rules of every workspace in the config being served (one tuple per config)."""

    def __init__(self, holder: ConfigHolder) -> None:
        self._holder = holder
        self._of: CompiledConfig | None = None
        self._rules: tuple[QuotaRule, ...] = ()

    def __call__(self) -> tuple[QuotaRule, ...]:
        cfg = self._holder.current
        if cfg is not self._of:
            self._of = cfg
            self._rules = (
                ()
                if cfg is None
                else tuple(r for ws in cfg.workspaces.values() if ws.quota for r in ws.quota.rules)
            )
        return self._rules


class QuotaLeaseClient:
    def __init__(
        self,
        settings: Settings,
        table: QuotaTable,
        rules: Callable[[], tuple[QuotaRule, ...]],
        *,
        channel: grpc.aio.Channel | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._table = table
        self._rules = rules
        self._synced: tuple[QuotaRule, ...] | None = None
        self._own_channel = channel is None
        self._channel = channel
        self._backoff = backoff or Backoff(0.1, 5.0)
        self._clock = clock
        self._interval = DEFAULT_REPORT_INTERVAL_S
        self._ttl = DEFAULT_LEASE_TTL_S
        self._early = asyncio.Event()
        table.notify = self._early.set
        # The allocator's address while a control plane redirected us to it.
        self.leader: str | None = None
        self._leader_channel: grpc.aio.Channel | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._applied = 0
        self._task: asyncio.Task[None] | None = None
        self._state_log = StateLog(log)
        self.connected = False

    async def start(self) -> None:
        if self._channel is None:
            self._channel = open_channel(self._settings)
        self._task = asyncio.create_task(self._run(), name="quota-leases")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._drop_leader_channel()
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._own_channel and self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _run(self) -> None:
        while True:
            await attempt_stream(self._stream_once, self._disconnected, self._backoff, log, "quota")

    async def _stream_once(self) -> None:
        channel = self._channel if self.leader is None else self._channel_to(self.leader)
        assert channel is not None
        if self.leader is None:
            # Reports release quota (protocol 4): build none while nobody can hear them.
            await channel.channel_ready()
        stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        # The configured control plane is waited for (its channel's backoff is the one
        # retry pace, as for config); a leader that cannot be reached fails fast, and the
        # configured control plane is asked again.
        call = stub.StreamLeases(
            metadata=auth_metadata(self._settings.node_token),
            wait_for_ready=self.leader is None,
        )
        self._applied = 0
        tasks: list[asyncio.Task[None]] = []
        try:
            await call.write(
                quota_service_pb2.StreamLeasesRequest(
                    node=node_of(self._settings), reports=self._reports()
                )
            )
            tasks = [
                asyncio.create_task(self._write_loop(call)),
                asyncio.create_task(self._read_loop(call)),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended the stream
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            call.cancel()

    async def _write_loop(self, call: grpc.aio.StreamStreamCall) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            wait = self._interval - (loop.time() - last)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._early.wait(), wait)
            since = loop.time() - last
            if since < EARLY_REPORT_MIN_S:
                await asyncio.sleep(EARLY_REPORT_MIN_S - since)
            self._early.clear()
            await call.write(
                quota_service_pb2.StreamLeasesRequest(
                    reports=self._reports(), applied_sequence=self._applied
                )
            )
            last = loop.time()

    async def _read_loop(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            response = await call.read()
            if response is grpc.aio.EOF:
                raise StreamFailed("EOF", "stream closed by the control plane")
            if response.HasField("report_interval"):
                interval = response.report_interval.ToTimedelta().total_seconds()
                if interval > 0:
                    self._interval = interval
            if response.leader and response.leader != self.leader:
                log.info("quota leases: the allocator is %s; following", response.leader)
                self.leader = response.leader
                raise StreamFailed("REDIRECT", f"allocator at {response.leader}")
            if response.leader or response.data_plane_count == 0:
                # No allocator elected yet (or a redirect to where we are): ask again.
                self.leader = None
                await asyncio.sleep(self._interval)
                raise StreamFailed("NO_LEADER", "no quota allocator elected yet")
            self._apply(response)

    def _apply(self, response: quota_service_pb2.StreamLeasesResponse) -> None:
        now = self._clock()
        expiries = [lease.expire_time.ToNanoseconds() / 1e9 for lease in response.leases]
        if expiries:
            ttl = max(expiries) - now
            # A skewed clock must not put a connected node in fallback: the default then.
            self._ttl = ttl if ttl > 0 else DEFAULT_LEASE_TTL_S
        self._sync()
        self._table.apply(response.leases, response.data_plane_count, now, self._ttl)
        self._applied = response.sequence
        self._connected()

    def _reports(self) -> list[quota_service_pb2.QuotaReport]:
        self._sync()
        return self._table.report(self._clock())

    def _sync(self) -> None:
        rules = self._rules()
        if rules is not self._synced:
            self._synced = rules
            self._table.sync(rules)

    def _channel_to(self, address: str) -> grpc.aio.Channel:
        if self._leader_channel is None:
            settings = dataclasses.replace(self._settings, control_plane=address)
            self._leader_channel = open_channel(settings)
        return self._leader_channel

    def _connected(self) -> None:
        self.connected = True
        self._backoff.reset()
        where = self.leader or self._settings.control_plane
        self._state_log.connected("quota lease stream connected to %s", where)

    def _disconnected(self, code: str, detail: str) -> None:
        self.connected = False
        # A redirect opens the (new) allocator's channel afresh; a failed stream to the
        # allocator goes back to the configured control plane, which names the next one.
        if code == "REDIRECT" or self.leader is not None:
            self._drop_leader_channel()
        if code == "REDIRECT":
            return
        if code != "NO_LEADER":
            self.leader = None
        self._state_log.disconnected(
            code,
            "quota lease stream to %s down (%s: %s); leases expire into fallback, retrying",
            self.leader or self._settings.control_plane,
            code,
            detail,
        )

    def _drop_leader_channel(self) -> None:
        channel, self._leader_channel = self._leader_channel, None
        if channel is not None:
            task = asyncio.get_running_loop().create_task(channel.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
