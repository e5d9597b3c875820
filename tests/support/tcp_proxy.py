"""A loopback TCP proxy a test can cut, to break a connection the way networks do.

- `blackhole()`: bytes stop moving in both directions, but no socket is closed and
  new connections are accepted and held: a half-open connection, as when packets are
  silently dropped. Neither end can tell without a timeout or a keepalive.
- `drop()`: every connection is reset (RST) and new ones are reset on accept: a hard
  failure both ends see at once, and a network that refuses to carry traffic.
- `forward()`: heal. Held bytes and held connections go through as if delayed.

It runs its own event loop in a daemon thread, so synchronous tests drive it directly.
Loopback only: it listens on 127.0.0.1 and refuses any other target.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        if not ipaddress.ip_address(host.strip("[]")).is_loopback:
            raise ValueError(f"TcpProxy only forwards to loopback, not {target!r}")
        self._target = (host.strip("[]"), int(port))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._dropping = False
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def blackhole(self) -> None:
        self._run(self._set(flowing=False, dropping=False))

    def drop(self) -> None:
        self._run(self._set(flowing=False, dropping=True))

    def forward(self) -> None:
        self._run(self._set(flowing=True, dropping=False))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # -- on the proxy's loop ---------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, *, flowing: bool, dropping: bool) -> None:
        assert self._flowing is not None
        self._dropping = dropping
        if dropping:
            for writer in list(self._writers):
                _reset(writer)
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            _reset(writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        if self._dropping:
            _reset(writer)
            return
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()  # a black hole holds new connections too
            if self._dropping or writer.is_closing():
                return
            up_reader, upstream = await asyncio.open_connection(*self._target)
            self._writers.add(upstream)
            pipes = [
                asyncio.create_task(self._pipe(reader, upstream)),
                asyncio.create_task(self._pipe(up_reader, writer)),
            ]
            _, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        with contextlib.suppress(OSError):
            while True:
                # Not reading while black-holed leaves the bytes in the kernel's buffers,
                # so the sender sees no error: exactly a silent network.
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0), as a crashed peer or middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
