"""The quota rules in force: compiled from the snapshot the publisher gives data planes.

Compiled with the contract's own `compile_quota_rules` (the one CompiledWorkspace.quota
comes from), so the allocator counts exactly the rules data planes enforce; only the
limits and budgets are compiled, not the whole workspace. Held-back workspaces are
published at their last good state, so their rules are those data planes hold too.
Recompiled when the published revision changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping

from oggy.contract.compile import ConfigError
from oggy.contract.compile.quota import QuotaRule, compile_quota_rules
from oggy.contract.snapshot import workspace_of
from oggy.v1 import snapshot_pb2

log = logging.getLogger(__name__)


class RuleBook:
    def __init__(self, snapshot: Callable[[], snapshot_pb2.Snapshot | None]) -> None:
        self._snapshot = snapshot
        self._revision = -1
        self._rules: dict[str, QuotaRule] = {}
        self._budgets: dict[str, object] = {}

    def rules(self) -> Mapping[str, QuotaRule]:
        """Rule name → rule, for every workspace."""
        self._refresh()
        return self._rules

    def budget(self, name: str) -> object | None:
        """The published Budget message `name`, or None."""
        self._refresh()
        return self._budgets.get(name)

    def _refresh(self) -> None:
        snap = self._snapshot()
        if snap is None or snap.revision == self._revision:
            return
        limits: dict[str, list[object]] = defaultdict(list)
        budgets: dict[str, list[object]] = defaultdict(list)
        for lim in snap.limits:
            limits[workspace_of(lim.name)].append(lim)
        for b in snap.budgets:
            budgets[workspace_of(b.name)].append(b)
        rules: dict[str, QuotaRule] = {}
        for workspace in {*limits, *budgets}:
            try:
                compiled = compile_quota_rules(
                    workspace,
                    limits[workspace],  # type: ignore[arg-type]
                    budgets[workspace],  # type: ignore[arg-type]
                )
            except ConfigError as exc:
                # Not published that way (the publisher holds such a workspace back).
                log.warning("quota rules of %s do not compile: %s", workspace, exc)
                continue
            rules.update(compiled.by_name())
        self._rules = rules
        self._budgets = {b.name: b for b in snap.budgets}
        self._revision = snap.revision
