"""Budget figures in the usage store: spend grouped by scope dimensions, and threshold
crossings (recorded once per budget, member, period and threshold).

The spend query groups a period's cost by every dimension a budget scope can name;
which groups a budget counts is decided in Python by the compiled scope's own
`matches` (controlplane.quota.spend), so scope logic exists once, not again in SQL.
Cost is the `cost_micro_usd` stored on events: the figures of SummarizeUsage
(refused requests and unpriced models have none, and add nothing).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from controlplane.usage.errors import InvalidArgument

# The model a scope's glob matches is the one the client named: `requested_model`
# when routing changed it.
SPEND_SQL = (
    "SELECT team, actor, key, app, environment, workflow, "
    "CASE WHEN requested_model = '' THEN model ELSE requested_model END, provider, "
    "SUM(cost_micro_usd) FROM usage_events "
    "WHERE workspace = ? AND start_us >= ? AND start_us < ? AND cost_micro_usd IS NOT NULL "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
)

CROSSING_COLUMNS = (
    "workspace",
    "budget",
    "member",
    "period_start_us",
    "threshold_percent",
    "cross_us",
    "spent_micro_usd",
    "amount_micro_usd",
)
INSERT_CROSSING_SQL = (
    f"INSERT INTO budget_crossings ({', '.join(CROSSING_COLUMNS)}) VALUES "
    f"({', '.join('?' * len(CROSSING_COLUMNS))}) "
    "ON CONFLICT (budget, member, period_start_us, threshold_percent) DO NOTHING"
)
# Newest first; ties broken by the unique key so keyset paging is exact.
CROSSING_ORDER = ("cross_us", "budget", "member", "period_start_us", "threshold_percent")
SELECT_CROSSINGS_SQL = f"SELECT {', '.join(CROSSING_COLUMNS)} FROM budget_crossings"
MAX_US = 2**62


@dataclass(frozen=True, slots=True)
class ScopeSpend:
    """Cost of one combination of the dimensions a budget scope can name."""

    team: str
    actor: str
    key: str
    app: str
    environment: str
    workflow: str
    model: str
    provider: str
    cost_micro_usd: int


@dataclass(frozen=True, slots=True)
class Crossing:
    workspace: str
    budget: str
    member: str
    period_start_us: int
    threshold_percent: int
    cross_us: int
    spent_micro_usd: int
    amount_micro_usd: int

    def row(self) -> tuple[object, ...]:
        return tuple(getattr(self, c) for c in CROSSING_COLUMNS)

    def cursor(self) -> list[object]:
        return [getattr(self, c) for c in CROSSING_ORDER]


def scope_spend(row: tuple[object, ...]) -> ScopeSpend:
    *dims, cost = row
    return ScopeSpend(*(str(d) for d in dims), int(cost))  # type: ignore[arg-type]


def crossing(row: tuple[object, ...]) -> Crossing:
    return Crossing(*row)  # type: ignore[arg-type]


def encode_token(scope: str, cursor: list[object]) -> str:
    raw = json.dumps({"s": scope, "c": cursor}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, scope: str) -> list[object] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor, token_scope = data["c"], data["s"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument("invalid page_token") from None
    if token_scope != scope or not isinstance(cursor, list) or len(cursor) != len(CROSSING_ORDER):
        raise InvalidArgument("page_token was issued for a different request")
    return cursor
