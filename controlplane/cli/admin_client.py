"""A synchronous AdminService client that adds the admin bearer token to every call.

The CLI makes one or a few unary calls per run, so a blocking channel keeps it simple;
the token travels as gRPC metadata via a client interceptor, so every stub method gets
it without the commands passing it around.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2_grpc

DEFAULT_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class _ClientCallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None = None
    compression: Any = None


class _BearerAuth(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, token: str, timeout: float) -> None:
        self._header = ("authorization", f"Bearer {token}")
        self._timeout = timeout

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._header]
        timeout = details.timeout if details.timeout is not None else self._timeout
        new = _ClientCallDetails(details.method, timeout, metadata, details.credentials)
        return continuation(new, request)


class AdminClient:
    """`client.stub.ListWorkspaces(request)` and friends, authenticated; close when done."""

    def __init__(
        self,
        address: str,
        token: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        tls_ca: Path | None = None,
    ) -> None:
        self.address = address
        if tls_ca is None:
            self._channel = grpc.insecure_channel(address)
        else:
            try:
                ca = tls_ca.read_bytes()
            except OSError as e:
                raise CliError(f"cannot read --tls-ca {tls_ca}: {e.strerror}") from None
            credentials = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(address, credentials)
        channel = grpc.intercept_channel(self._channel, _BearerAuth(token, timeout))
        self.stub = admin_service_pb2_grpc.AdminServiceStub(channel)

    def wait_ready(self, timeout: float) -> None:
        """Block until the channel connects; raises grpc.FutureTimeoutError."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the token.
        return f"AdminClient({self.address!r})"


def list_all(method: Any, request: Any, field: str, page_size: int = 200) -> list[Any]:
    """Call a List RPC until `next_page_token` is empty; returns every item of `field`."""
    items: list[Any] = []
    request.page_size = page_size
    while True:
        response = method(request)
        items.extend(getattr(response, field))
        if not response.next_page_token:
            return items
        request.page_token = response.next_page_token
