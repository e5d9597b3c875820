"""The audit trail: one AuditEvent per successful change, in the change's transaction.

`AuditLog.hook(...)` returns the Repository's AuditHook for one RPC: given the
stored item before and after, it renders both the way the API returns them
(secrets scrubbed a second time here, in case a renderer forgot) and yields the
Put of the event. A transaction that fails its conditions writes neither the
change nor its event.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from google.protobuf import json_format
from google.protobuf.message import Message

from controlplane.api import convert
from controlplane.api.principal import current_principal
from controlplane.api.repository import AuditHook
from controlplane.domain import audit
from controlplane.domain.layout import Layout
from controlplane.store.base import Item
from controlplane.store.txn import Put
from oggy.v1 import audit_pb2

Render = Callable[[Item], Message]
# Input-only secret fields of resources; always empty in audit JSON.
SECRET_FIELDS = ("api_key", "hmac_secret", "secret_sha256", "previous_secret_sha256")


def resource_json(message: Message | None) -> str:
    if message is None:
        return ""
    copy = type(message)()
    copy.CopyFrom(message)
    for field in SECRET_FIELDS:
        if field in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField(field)
    # The etag of `after` is unknown inside the transaction; leave both out.
    if "etag" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("etag")
    return json_format.MessageToJson(copy, indent=None, sort_keys=True)


def workspace_of(resource: str) -> str:
    parts = resource.split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 and parts[0] == "workspaces" else ""


class AuditLog:
    def __init__(
        self,
        layout: Layout,
        clock: Callable[[], float] = time.time,
        ids: Callable[[], str] | None = None,
    ) -> None:
        self._layout = layout
        self._clock = clock
        self._ids = ids or audit.AuditIds(lambda: int(self._clock() * 1000))

    def event(
        self,
        *,
        method: str,
        resource: str,
        before: Message | None,
        after: Message | None,
        request_id: str = "",
        principal: str | None = None,
    ) -> Put:
        """The Put of one event (for writes that do not go through Repository).

        `principal` defaults to the caller of the current RPC.
        """
        event_id = self._ids()
        event = audit_pb2.AuditEvent(
            name=audit.event_name(event_id),
            time=convert.timestamp(self._clock()),
            principal=principal or current_principal(),
            method=method,
            resource=resource,
            workspace=workspace_of(resource),
            before_json=resource_json(before),
            after_json=resource_json(after),
            request_id=request_id,
        )
        return Put(self._layout.audit(event_id), event.SerializeToString())

    def hook(self, method: str, resource: str, render: Render, request_id: str = "") -> AuditHook:
        def op(before: Item | None, after: Item | None) -> Put:
            return self.event(
                method=method,
                resource=resource,
                before=render(before) if before is not None else None,
                after=render(after) if after is not None else None,
                request_id=request_id,
            )

        return op
