"""Who is calling: set by the auth interceptor for the duration of an RPC.

The admin servicer stamps it on audit events. It is a fingerprint of the
token (`admin-token:<12 hex>`), never the token itself.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from controlplane.domain.audit import UNKNOWN_PRINCIPAL

_PRINCIPAL: contextvars.ContextVar[str] = contextvars.ContextVar(
    "oggy_principal", default=UNKNOWN_PRINCIPAL
)


def current_principal() -> str:
    return _PRINCIPAL.get()


def with_principal(handler: grpc.RpcMethodHandler, principal: str) -> grpc.RpcMethodHandler:
    """`handler` with the principal set while its unary-unary behaviour runs.

    Streaming handlers are returned unchanged (no admin RPC streams).
    """
    inner = handler.unary_unary
    if inner is None or handler.request_streaming or handler.response_streaming:
        return handler
    behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]] = inner

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = _PRINCIPAL.set(principal)
        try:
            return await behaviour(request, context)
        finally:
            _PRINCIPAL.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
