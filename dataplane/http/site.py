"""Serving the data plane's app: the one place the aiohttp server is configured
(GatewayRunner: requests aiohttp cannot parse are answered without echoing them,
see wire.py).

`handler_cancellation`: aiohttp (3.7+) no longer cancels a request's handler when
its client hangs up; a handler waiting on the upstream (no headers yet, a stalled
stream) would only notice when it next writes to the client, holding the
upstream call up to a full timeout and recording it as an upstream timeout.
With it on, the connection's loss cancels the handler at once: the relay's
pending upstream read is cancelled, which closes that upstream connection, and
`metering.metered` records the request as a client disconnect (499). Every
await on the request path is safe to cancel: the usage event is settled in
`finally` without awaiting, or by a shielded task (metering.py).

A client that half-closes its socket after sending (shutdown(SHUT_WR)) counts as
gone: asyncio closes the transport on EOF, as aiohttp servers always have.
"""

from __future__ import annotations

from aiohttp import web

from dataplane.http.wire import GatewayRunner


async def start_site(
    app: web.Application, host: str, port: int, *, shutdown_timeout_s: float
) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0 picks a free port); returns the runner and the bound port."""
    runner = GatewayRunner(
        app,
        shutdown_timeout=shutdown_timeout_s,
        access_log=None,
        handle_signals=False,
        handler_cancellation=True,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]
