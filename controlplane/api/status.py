"""The one mapper from domain/store errors to gRPC status codes.

Servicer methods are wrapped with `@grpc_errors`; they raise typed errors and
never call `context.abort` themselves. Unexpected exceptions become INTERNAL
with a generic message (the details go to the log, which never holds secrets).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from controlplane.domain import errors
from controlplane.store.base import (
    STORE_MESSAGE_PREFIX,
    RevisionConflict,
    StoreError,
    StoreOutOfSpace,
    StoreUnavailable,
    WatchCompacted,
)
from oggy.contract.names import InvalidName

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidName, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (RevisionConflict, grpc.StatusCode.ABORTED),
    # Not UNAVAILABLE: retrying will not help until an operator frees space.
    (StoreOutOfSpace, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (WatchCompacted, grpc.StatusCode.UNAVAILABLE),
)


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code, str(exc) or code.name.lower()
    if isinstance(exc, StoreError):
        # Unexpected: say what it was in the log, where an operator will look.
        log.warning("configuration store error: %s", exc)
        return grpc.StatusCode.UNAVAILABLE, f"{STORE_MESSAGE_PREFIX} error"
    return grpc.StatusCode.INTERNAL, "internal error"


R = TypeVar("R")
Method = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def grpc_errors(method: Method[R]) -> Method[R]:
    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except (errors.DomainError, InvalidName, StoreError) as exc:
            code, message = to_status(exc)
            await context.abort(code, message)
        except Exception:
            log.exception("unhandled error in %s", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        raise AssertionError("unreachable: context.abort raises")

    return wrapper
