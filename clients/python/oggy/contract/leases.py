"""Defaults both ends of the quota lease stream must agree on (proto/oggy/v1/quota_protocol.md).

The control plane sends its own values with every response (`report_interval`, each
lease's `expire_time`); a data plane uses these until the first response says otherwise.
"""

from __future__ import annotations

# Protocol 2: how often a data plane reports.
DEFAULT_REPORT_INTERVAL_S = 0.5
# Protocol 7: how long a lease lasts; a data plane falls back to a safe share after it.
DEFAULT_LEASE_TTL_S = 3.0
