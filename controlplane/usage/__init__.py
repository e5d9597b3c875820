"""Usage ingest (acknowledge after a durable write) and usage stores."""

from controlplane.usage.base import UsageStore
from controlplane.usage.errors import InvalidArgument, UsageStoreUnavailable
from controlplane.usage.factory import open_usage_store
from controlplane.usage.ingest import UsageIngestServicer
from controlplane.usage.retention import RetentionJob
from controlplane.usage.sqlite import SqliteUsageStore

__all__ = [
    "InvalidArgument",
    "RetentionJob",
    "SqliteUsageStore",
    "UsageIngestServicer",
    "UsageStore",
    "UsageStoreUnavailable",
    "open_usage_store",
]
