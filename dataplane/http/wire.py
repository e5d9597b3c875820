"""The HTTP wire below the app: header size limits, and requests aiohttp cannot parse.

aiohttp answers a request it cannot parse itself, before any route or
middleware: `400 text/plain` quoting the start of the offending line, and an
ERROR log line with the same text. The offending line is usually a header, and
the long headers clients send are credentials (a gateway key, an actor token):
that answer would echo a secret to the wire and to the log.

So:
- header lines up to MAX_HEADER_BYTES are parsed (aiohttp's default is 8 KiB),
  and the gateway's own checks refuse an oversized key or actor token with a
  401 in the caller's protocol (keys are bounded by keys.MAX_KEY_TEXT, actor
  tokens by actor_token.MAX_TOKEN_BYTES);
- past that, `GatewayRunner`'s protocol answers in the OpenAI error shape (431
  for a line too long, else 400), echoes nothing, logs only the error's kind,
  and records a usage event through ON_UNPARSED.

An app served by a plain `web.AppRunner` still gets the limits (they are the
app's `handler_args`); only the last point needs GatewayRunner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from dataplane.http.errors import error_response
from oggy.contract import errors

log = logging.getLogger(__name__)

# Longest request line or header line parsed; a 10 KiB key or an 8 KiB actor
# token is parsed (and refused by our own checks), not cut off by aiohttp.
MAX_HEADER_BYTES = 64 * 1024
HANDLER_ARGS: dict[str, Any] = {
    "max_line_size": MAX_HEADER_BYTES,
    "max_field_size": MAX_HEADER_BYTES,
}

# (client address, the error answered) → record its usage event.
OnUnparsed = Callable[[str, errors.GatewayError], None]
ON_UNPARSED = web.AppKey("oggy_on_unparsed", OnUnparsed)


def unparsed_error(exc: HttpProcessingError) -> errors.GatewayError:
    """What a client is told about a request aiohttp could not parse (none of its text)."""
    if isinstance(exc, LineTooLong):
        return errors.HeaderTooLarge()
    return errors.InvalidRequest("The HTTP request could not be parsed.")


class _Protocol(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        err = unparsed_error(exc)
        peer = request.remote or ""
        # The exception's text quotes the request: only its kind is logged.
        log.warning("refused an unparsable request from %s (%s)", peer, type(exc).__name__)
        on_unparsed = getattr(self._manager, "on_unparsed", None)
        if on_unparsed is not None:
            on_unparsed(peer, err)
        resp = error_response(err)
        resp.force_close()
        return resp


class _Server(web.Server):
    on_unparsed: OnUnparsed | None = None

    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer unparsable requests as described above."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp has no setting for the protocol class; _Server adds no state.
        server.__class__ = _Server
        assert isinstance(server, _Server)
        server.on_unparsed = self.app.get(ON_UNPARSED)
        return server
