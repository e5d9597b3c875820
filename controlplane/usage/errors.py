"""Typed usage-store errors; they subclass the domain errors so `api.status` maps them."""

from __future__ import annotations

from controlplane.domain.errors import InvalidArgument as _DomainInvalidArgument
from controlplane.domain.errors import Unavailable as _DomainUnavailable


class InvalidArgument(_DomainInvalidArgument, ValueError):
    """A usage query is malformed: missing workspace, bad page token, bad group_by."""


class UsageStoreUnavailable(_DomainUnavailable):
    """The usage store cannot take or serve data right now; retry later."""


class UsageStoreConfigError(ValueError):
    """The --usage-store URL cannot be used: bad scheme or path, or a missing extra."""
