"""Typed domain errors. `controlplane.api.status` is the one place that maps them to gRPC."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a caller can act on; the message is safe to show to API clients."""


class InvalidArgument(DomainError):
    """The request is malformed or names something it may not."""


class NotFound(DomainError):
    """The named resource (or its parent) does not exist."""


class AlreadyExists(DomainError):
    """A resource with that name (or a unique attribute) already exists."""


class Aborted(DomainError):
    """A stale etag, or a concurrent writer won; re-read and retry."""


class FailedPrecondition(DomainError):
    """The system is not in a state that allows the operation (e.g. children remain)."""


class Unauthenticated(DomainError):
    """Missing or wrong credentials."""


class Unavailable(DomainError):
    """A backing service is down; retrying later may succeed."""
