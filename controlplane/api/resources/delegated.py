"""RPCs other modules implement; AdminServicer forwards them to objects it is given.

- `usage_queries`: ListPromptLogs, PurgePromptLogs, ListUnpricedModels
  (controlplane/usage owns prompt logs and the unpriced-model query).
- `kek_rotation`: RotateKeyEncryptionKey (controlplane/secrets owns the KEK).

Each delegate is any object with the RPC as an `async def Method(request, context)`;
it may use `admin_servicer.audit_log.event(...)` to audit what it changes. Without
a delegate the RPC answers UNIMPLEMENTED.
"""

from __future__ import annotations

from typing import Any

import grpc

from controlplane.api.resources.base import Ctx, ServicerBase
from oggy.v1 import admin_service_pb2 as pb


async def _forward(delegate: object | None, method: str, request: Any, context: Ctx) -> Any:
    handler = getattr(delegate, method, None)
    if handler is None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not available")
        raise AssertionError("unreachable: context.abort raises")
    return await handler(request, context)


class DelegatedRpcs(ServicerBase):
    async def _forward_workspace_query(self, method: str, request: Any, context: Ctx) -> Any:
        # Checked here: the delegate reads only the usage store, where a missing
        # workspace looks like an idle one. Without a delegate, UNIMPLEMENTED comes first.
        if getattr(self._usage_queries, method, None) is not None:
            await self._check_filter_workspace(request, context)
        return await _forward(self._usage_queries, method, request, context)

    async def ListPromptLogs(self, request: pb.ListPromptLogsRequest, context: Ctx):
        return await self._forward_workspace_query("ListPromptLogs", request, context)

    async def PurgePromptLogs(self, request: pb.PurgePromptLogsRequest, context: Ctx):
        return await _forward(self._usage_queries, "PurgePromptLogs", request, context)

    async def ListUnpricedModels(self, request: pb.ListUnpricedModelsRequest, context: Ctx):
        return await self._forward_workspace_query("ListUnpricedModels", request, context)

    async def RotateKeyEncryptionKey(self, request: pb.RotateKeyEncryptionKeyRequest, context: Ctx):
        return await _forward(self._kek_rotation, "RotateKeyEncryptionKey", request, context)
