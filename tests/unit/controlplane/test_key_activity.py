"""Gateway key last-used time and use count: merged from usage on Get/List, not stored."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import grpc

from controlplane.api.admin_servicer import AdminServicer
from controlplane.api.key_activity import NoKeyActivity, activity_source, merge_activity
from controlplane.secrets import EnvelopeCipher, Kek
from controlplane.store.memory import InMemoryStore
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import key_pb2

LAST_US = 1_700_000_123_456_789


class FakeContext:
    def invocation_metadata(self) -> tuple[()]:
        return ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise AssertionError(f"{code}: {details}")


class FakeUsage:
    def __init__(self, activity: dict[str, tuple[int, int]], fail: bool = False) -> None:
        self.activity, self.fail = activity, fail
        self.calls: list[list[str]] = []

    async def key_activity(self, key_names: Sequence[str]) -> Mapping[str, tuple[int, int]]:
        self.calls.append(list(key_names))
        if self.fail:
            raise ConnectionError("usage store down")
        return {k: v for k, v in self.activity.items() if k in key_names}


async def test_merge_fills_only_keys_with_usage() -> None:
    used, idle = key_pb2.GatewayKey(name="workspaces/w/keys/a"), key_pb2.GatewayKey(name="b")
    await merge_activity(FakeUsage({used.name: (LAST_US, 7)}), [used, idle])
    assert used.use_count == 7 and used.last_used_time.ToMicroseconds() == LAST_US
    assert not idle.HasField("last_used_time") and idle.use_count == 0


async def test_usage_down_leaves_the_fields_unset() -> None:
    key = key_pb2.GatewayKey(name="workspaces/w/keys/a")
    await merge_activity(FakeUsage({key.name: (LAST_US, 1)}, fail=True), [key])
    assert not key.HasField("last_used_time")


async def test_default_source_and_duck_typing() -> None:
    assert isinstance(activity_source(None), NoKeyActivity)
    assert isinstance(activity_source(object()), NoKeyActivity)
    usage = FakeUsage({})
    assert activity_source(usage) is usage
    assert await NoKeyActivity().key_activity(["x"]) == {}


async def test_get_and_list_keys_show_activity_with_one_query_per_page() -> None:
    usage = FakeUsage({})
    admin = AdminServicer(
        InMemoryStore(),
        EnvelopeCipher(Kek.generate()),
        usage_store=usage,
        clock=lambda: 1_700_000_000.0,
        rng=random.Random(3),
    )
    ctx = FakeContext()
    await admin.CreateWorkspace(pb.CreateWorkspaceRequest(workspace_id="w"), ctx)
    names = [
        (
            await admin.CreateGatewayKey(pb.CreateGatewayKeyRequest(parent="workspaces/w"), ctx)
        ).gateway_key.name
        for _ in range(3)
    ]
    usage.activity[names[0]] = (LAST_US, 42)
    listed = await admin.ListGatewayKeys(pb.ListGatewayKeysRequest(parent="workspaces/w"), ctx)
    by_name = {k.name: k for k in listed.gateway_keys}
    assert by_name[names[0]].use_count == 42
    assert by_name[names[0]].last_used_time.ToMicroseconds() == LAST_US
    assert by_name[names[1]].use_count == 0
    assert len(usage.calls) == 1 and sorted(usage.calls[0]) == sorted(names)
    got = (await admin.GetGatewayKey(pb.GetGatewayKeyRequest(name=names[0]), ctx)).gateway_key
    assert got.use_count == 42
