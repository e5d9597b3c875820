"""Routing tables: routes vs provider globs, implicit fallback chains, families, prices."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from dataplane.http.key_headers import presented_authorization
from dataplane.http.proxy import is_fallback_status
from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.default_prices import DEFAULT_CATALOG_VERSION
from oggy.contract.price_book import compile_catalog, workspace_book
from oggy.contract.pricing import TokenCounts
from oggy.contract.routing import MAX_TARGETS, Router, RoutingTable, Target
from oggy.v1 import price_pb2, provider_pb2, route_pb2, snapshot_pb2, workspace_pb2

W = "workspaces/w"
Kind = provider_pb2.ProviderCredential


def test_implicit_chain_exact_first_then_globs_in_order() -> None:
    router = Router.build([(["gpt-*"], "a"), (["gpt-4o"], "b"), (["gpt-4o", "*"], "c")])
    assert router.candidates("gpt-4o") == ("b", "c", "a")
    assert router.candidates("gpt-4") == ("a", "c")
    assert router.route("gpt-4") == "a"
    assert router.candidates("zzz") == ("c",)
    many = Router.build([(["*"], i) for i in range(MAX_TARGETS + 3)])
    assert len(many.candidates("m")) == MAX_TARGETS


def test_routing_table_routes_win_and_filter_by_family() -> None:
    family = {"oa": "openai", "az": "openai", "an": "anthropic"}
    routers = {
        "openai": Router.build([(["gpt-*"], "oa"), (["gpt-4o"], "az")]),
        "anthropic": Router.build([(["claude-*"], "an")]),
    }
    routes = {
        "fast": (Target("an", "claude-haiku"), Target("az", "gpt-4o-mini")),
        "gpt-4o": (Target("az", "gpt-4o"),),
    }
    table = RoutingTable(routes, routers, family.__getitem__)
    assert table.resolve("fast", "openai") == (Target("az", "gpt-4o-mini"),)
    assert table.resolve("fast", "anthropic") == (Target("an", "claude-haiku"),)
    # A route replaces provider matching for its model (no implicit chain appended).
    assert table.resolve("gpt-4o", "openai") == (Target("az", "gpt-4o"),)
    assert table.resolve("gpt-5", "openai") == (Target("oa", "gpt-5"),)
    assert table.resolve("claude-x", "openai") == ()
    # What policy judges a request by: an alias's target models, else the model itself.
    assert table.upstream_models("fast") == ("claude-haiku", "gpt-4o-mini")
    assert table.upstream_models("gpt-5") == ("gpt-5",)
    twice = RoutingTable({"x": (Target("oa", "m"), Target("az", "m"))}, routers, family.__getitem__)
    assert twice.upstream_models("x") == ("m",)


@pytest.mark.parametrize(
    ("status", "falls_back"),
    [(200, False), (400, False), (401, False), (404, False), (429, True), (500, True), (503, True)],
)
def test_fallback_statuses(status: int, falls_back: bool) -> None:
    assert is_fallback_status(status) is falls_back


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer k1", "x-api-key": "k2"}, "Bearer k1"),
        ({"x-api-key": "k2", "api-key": "k3"}, "Bearer k2"),
        ({"api-key": " k3 "}, "Bearer k3"),
        ({}, None),
        ({"x-api-key": ""}, None),
    ],
)
def test_presented_key(headers: dict[str, str], expected: str | None) -> None:
    assert presented_authorization(headers) == expected


def _snapshot() -> snapshot_pb2.Snapshot:
    def prov(
        name: str, kind: int, models: list[str], **kw: object
    ) -> snapshot_pb2.ProviderMaterial:
        return snapshot_pb2.ProviderMaterial(
            provider=Kind(
                name=f"{W}/providers/{name}",
                kind=kind,
                base_url="https://h.example/v1",
                models=models,
                **kw,
            ),
            api_key=f"sk-{name}",
        )

    return snapshot_pb2.Snapshot(
        revision=1,
        workspaces=[workspace_pb2.Workspace(name=W), workspace_pb2.Workspace(name="workspaces/x")],
        providers=[
            prov("b-compat", Kind.KIND_OPENAI_COMPATIBLE, ["gpt-*"]),
            prov("a-openai", Kind.KIND_OPENAI, ["gpt-4o", "gpt-*"]),
            prov("c-claude", Kind.KIND_ANTHROPIC, ["claude-*"]),
            prov("d-azure", Kind.KIND_AZURE_OPENAI, ["gpt-4o"], deployments={"gpt-4o": "dep"}),
        ],
        routes=[
            route_pb2.Route(
                name=f"{W}/routes/r1",
                model="smart",
                targets=[
                    route_pb2.RouteTarget(provider=f"{W}/providers/gone"),
                    route_pb2.RouteTarget(provider=f"{W}/providers/d-azure", model="gpt-4o"),
                ],
            ),
            route_pb2.Route(
                name=f"{W}/routes/r2",
                model="smart-claude",
                targets=[
                    route_pb2.RouteTarget(provider=f"{W}/providers/c-claude", model="claude-x")
                ],
            ),
        ],
    )


def test_compiled_routing_chain_and_route() -> None:
    cfg = compile_snapshot(_snapshot())
    ws = cfg.workspaces[W]
    names = [t.provider.name.rsplit("/", 1)[1] for t in ws.targets("gpt-4o", "openai")]
    assert names == ["a-openai", "d-azure", "b-compat"]  # exact entries first, name order
    [t] = ws.targets("smart", "openai")  # dangling target skipped
    assert (t.provider.name, t.model) == (f"{W}/providers/d-azure", "gpt-4o")
    assert str(t.provider.url("chat/completions", "gpt-4o")).startswith(
        "https://h.example/v1/openai/deployments/dep/chat/completions?api-version="
    )
    assert ws.targets("smart", "anthropic") == ()  # an OpenAI-family route
    assert [t.model for t in ws.targets("smart-claude", "anthropic")] == ["claude-x"]
    assert dict(t.provider.auth_headers) == {"api-key": "sk-d-azure"}
    assert "sk-d-azure" not in repr(t.provider)
    assert ("smart", t.provider) in ws.models
    assert any("gone" in w for w in cfg.warnings)
    assert ws.first_passthrough().name.endswith("a-openai")


def test_a_route_across_wire_families_is_rejected() -> None:
    # The data plane keeps only the endpoint family's targets: the fallback would vanish.
    s = _snapshot()
    s.routes[0].targets.add(provider=f"{W}/providers/c-claude", model="claude-x")
    with pytest.raises(ConfigError, match="translation between provider formats"):
        compile_snapshot(s)


@pytest.mark.parametrize(
    "route",
    [
        route_pb2.Route(name=f"{W}/routes/r", model="m-*"),
        route_pb2.Route(name=f"{W}/routes/r", model=""),
        route_pb2.Route(
            name=f"{W}/routes/r",
            model="m",
            targets=[route_pb2.RouteTarget(provider="workspaces/x/providers/p")],
        ),
        route_pb2.Route(name="workspaces/nope/routes/r", model="m"),
    ],
)
def test_invalid_routes_are_rejected(route: route_pb2.Route) -> None:
    s = _snapshot()
    s.routes.append(route)
    with pytest.raises(ConfigError):
        compile_snapshot(s)


# ---------------------------------------------------------------- price books

T = TokenCounts(input=1_000_000)


def price(name: str, provider: str, model: str, inp: int, at: int = 0) -> price_pb2.ModelPrice:
    return price_pb2.ModelPrice(
        name=name,
        provider=provider,
        model=model,
        input_per_mtok=inp,
        output_per_mtok=0,
        effective_time=Timestamp(seconds=at),
    )


def test_default_catalog_when_snapshot_has_no_prices() -> None:
    book = workspace_book(compile_catalog([]), "workspaces/a")
    assert book.version == DEFAULT_CATALOG_VERSION
    assert book.price("openai", "gpt-4o-mini", 1_800_000_000, T).micro_usd == 150_000
    # Azure and OpenAI-compatible serve OpenAI models: the `openai` entry prices them.
    assert book.price("azure_openai", "gpt-4o-mini", 1_800_000_000, T).micro_usd == 150_000
    assert book.price("anthropic", "gpt-4o-mini", 1_800_000_000, T) is None


def test_workspace_overrides_beat_catalog_and_kinds() -> None:
    catalog = compile_catalog([price("prices/p1", "openai", "gpt-4o*", 2_000_000)])
    a = workspace_book(
        catalog,
        "workspaces/a",
        [
            price("workspaces/a/prices/p2", "openai", "gpt-4o", 1_000_000),
            price("workspaces/a/prices/p3", "azure_openai", "gpt-4o", 3_000_000),
        ],
    )
    b = workspace_book(catalog, "workspaces/b")
    assert b is catalog.book  # workspaces without prices of their own share one memo
    assert a.price("openai", "gpt-4o", 10, T).micro_usd == 1_000_000
    assert a.price("azure_openai", "gpt-4o", 10, T).micro_usd == 3_000_000  # own kind first
    assert a.price("openai_compatible", "gpt-4o", 10, T).micro_usd == 1_000_000
    assert a.price("openai", "gpt-4o-mini", 10, T).micro_usd == 2_000_000  # catalog layer
    assert b.price("openai", "gpt-4o", 10, T).micro_usd == 2_000_000
    assert a.version.startswith(b.version + "+w-") and b.version.startswith("c-")
    # No default fallback once the snapshot has a catalog.
    assert b.price("anthropic", "claude-3-haiku", 10, T) is None


@pytest.mark.parametrize(
    "bad",
    [
        price("prices/x", "bedrock", "m", 1),
        price("prices/x", "openai", "m", -1),
        price("prices/x", "openai", "", 1),
        price("nope/x", "openai", "m", 1),
        price("workspaces/a/prices/x", "openai", "m", 1),  # not a catalog price
    ],
)
def test_invalid_catalog_prices_rejected(bad: price_pb2.ModelPrice) -> None:
    with pytest.raises(ValueError):
        compile_catalog([bad])


@pytest.mark.parametrize(
    "bad",
    [
        price("workspaces/a/prices/x", "bedrock", "m", 1),
        price("workspaces/zzz/prices/x", "openai", "m", 1),
        price("workspaces/a/prices/X", "openai", "m", 1),
        price("prices/x", "openai", "m", 1),
    ],
)
def test_invalid_workspace_prices_rejected(bad: price_pb2.ModelPrice) -> None:
    with pytest.raises(ValueError):
        workspace_book(compile_catalog([]), "workspaces/a", [bad])


def test_a_price_twice_is_rejected() -> None:
    p = price("prices/x", "openai", "m", 1)
    with pytest.raises(ValueError, match="appears twice"):
        compile_catalog([p, p])


def test_future_override_does_not_hide_current_catalog_price() -> None:
    book = workspace_book(
        compile_catalog([price("prices/p1", "openai", "gpt-4o", 2_000_000)]),
        "workspaces/a",
        [price("workspaces/a/prices/p2", "openai", "gpt-4o", 1_000_000, at=1_000)],
    )
    assert book.price("openai", "gpt-4o", 10, T).micro_usd == 2_000_000
    assert book.price("openai", "gpt-4o", 2_000, T).micro_usd == 1_000_000


def test_payload_bytes_pass_through_unless_the_model_changes() -> None:
    from dataplane.core.chat_request import (
        prepare_chat,
        prepare_embeddings,
        prepare_messages,
        prepare_responses,
    )
    from oggy.contract import errors

    raw = b'{"model": "gpt-fast", "messages": [{"role": "user", "content": "x"}]}'
    req = prepare_chat(raw)
    assert req.payload_for("gpt-fast") is raw
    assert b'"model":"gpt-4o-mini"' in req.payload_for("gpt-4o-mini")
    # Azure paths: the deployment in the path is the model; the body may lack one.
    azure = prepare_chat(b'{"messages": [{"role": "user", "content": "x"}]}', "dep")
    assert azure.model == "dep" and b'"model":"dep"' in azure.payload_for("dep")
    stream = prepare_responses(b'{"model": "o3", "input": "hi", "stream": true}')
    assert stream.stream and b"stream_options" not in stream.payload  # usage comes anyway
    msg = prepare_messages(b'{"model": "c", "max_tokens": 5, "system": "s", "messages": [{}]}')
    assert msg.max_output_tokens == 5 and msg.messages[0] == {"content": "s"}
    with pytest.raises(errors.InvalidRequest):
        prepare_embeddings(b'{"model": "e"}')
