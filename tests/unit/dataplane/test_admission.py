"""core.admission.admit on a compiled snapshot: pure, no event loop, a fixed clock.

Caller checks (key, IP, actor token), identity, labels, shadow reasons, then the
body, model policy, routing and provider policy, for every endpoint kind; a
refusal says what was known by then.
"""

from __future__ import annotations

import orjson
import pytest

from dataplane.core import admission
from dataplane.core.admission import Admitted, Ask, Refused, Verdict, admit, find_key
from dataplane.core.chat_request import ChatRequest
from dataplane.core.passthrough import PassthroughRequest
from dataplane.http import endpoints
from oggy.actor_token import mint_actor_token
from oggy.contract import errors
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.contract.policy import Allow, Deny
from oggy.v1 import policy_pb2
from tests.support.identity_snapshot import ED, WS, actor, identity_snapshot, key_text

NOW = 1_800_000_000.0
# The data plane's own endpoint table, so the kinds tested are the ones served.
CHAT = endpoints.CHAT.endpoint
MESSAGES = endpoints.MESSAGES.endpoint
PASSTHROUGH = endpoints.PASSTHROUGH
MODELS = endpoints.MODELS
Policy = policy_pb2.Policy
CFG = compile_snapshot(
    identity_snapshot(
        extra_policies=[
            Policy(
                name=f"{WS}/policies/secret", target=f"{WS}/keys/kws", denied_models=["secret-*"]
            ),
            Policy(
                name=f"{WS}/policies/bound",
                target=f"{WS}/keys/kalice",
                max_output_tokens=100,
                max_tokens_mode=Policy.MAX_TOKENS_MODE_CAP,
            ),
            Policy(name=f"{WS}/policies/cap", target=f"{WS}/keys/kover", max_output_tokens=50),
            Policy(
                name=f"{WS}/policies/providers",
                target=f"{WS}/keys/kreplay",
                allowed_providers=["elsewhere"],
            ),
        ]
    ),
    replay_caches=ReplayCaches(),
)
ALICE = actor("alice")
BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def token(subject: str = ALICE, **claims: str) -> str:
    return mint_actor_token(ED, kid="ed", workspace=WS, subject=subject, now=NOW, **claims)


def run(
    key_id: str,
    headers: dict[str, str] | None = None,
    *,
    peer: str = "10.0.0.1",
    endpoint: admission.Endpoint = CHAT,
    body: bytes | errors.GatewayError = BODY,
    raw_path: str = "/v1/chat/completions",
    secret: str | None = None,
) -> Verdict:
    authorization = f"Bearer {key_text(key_id) if secret is None else secret}"
    found = find_key(CFG.keys_by_id, authorization, NOW)
    return admit(found, Ask(headers or {}, peer, body, None, raw_path), endpoint, NOW)


def refused(verdict: Verdict, cls: type[errors.GatewayError]) -> Refused:
    assert isinstance(verdict, Refused), verdict
    assert isinstance(verdict.error, cls), verdict.error
    return verdict


def admitted(verdict: Verdict) -> Admitted:
    assert isinstance(verdict, Admitted), verdict
    return verdict


# ---------------------------------------------------------------- the caller


def test_admitted_carries_key_attribution_policy_and_targets() -> None:
    v = admitted(run("kalice"))
    assert v.key.name == f"{WS}/keys/kalice" and v.policy is v.key.policy
    assert (v.attribution.actor, v.attribution.team) == (ALICE, actor("ml"))
    assert v.model == "gpt-4o-mini" and isinstance(v.request, ChatRequest)
    assert [(t.provider.name, t.model) for t in v.targets] == [
        (f"{WS}/providers/fake", "gpt-4o-mini")
    ]
    assert v.client_ip == "10.0.0.1" and dict(v.headers) == {}


@pytest.mark.parametrize(
    ("secret", "code", "named"),
    [
        ("", "invalid_api_key", False),
        (f"oggy_live_kunknown_{'A' * 43}", "invalid_api_key", False),
        (key_text("kws")[:-3] + "ZZZ", "invalid_api_key", True),
    ],
)
def test_unknown_key_is_refused_first_and_names_a_real_key_only(
    secret: str, code: str, named: bool
) -> None:
    # Even a body that does not parse: the caller is judged before the body.
    v = refused(run("kws", secret=secret, body=b"{not json"), errors.InvalidApiKey)
    assert (v.error.status, v.error.code) == (401, code)
    assert (v.key is not None) is named and v.attribution is None and not v.body_read


@pytest.mark.parametrize(
    ("peer", "xff", "client", "allowed"),
    [
        ("10.1.2.3", None, "10.1.2.3", True),
        ("11.0.0.1", None, "11.0.0.1", False),  # CIDR-restricted key, other address
        # An untrusted peer cannot claim an allowed address with X-Forwarded-For.
        ("8.8.8.8", "10.1.2.3", "8.8.8.8", False),
        ("11.0.0.1", "10.9.9.9, 10.1.2.3", "11.0.0.1", False),
        # A trusted proxy's X-Forwarded-For is believed (rightmost untrusted hop).
        ("192.168.1.1", "10.1.2.3", "10.1.2.3", True),
        ("192.168.1.1", "10.1.2.3, 192.168.7.7", "10.1.2.3", True),
        ("192.168.1.1", "10.1.2.3, 8.8.8.8", "8.8.8.8", False),
        ("192.168.1.1", "garbage", "192.168.1.1", False),
    ],
)
def test_ip_allowlist_and_forwarded_for(
    peer: str, xff: str | None, client: str, allowed: bool
) -> None:
    v = run("kcidr", {"X-Forwarded-For": xff} if xff else {}, peer=peer)
    assert v.client_ip == client
    if allowed:
        assert isinstance(v, Admitted)
    else:
        r = refused(v, errors.ClientIpNotAllowed)
        assert r.error.status == 403 and r.key is not None and r.key.name == f"{WS}/keys/kcidr"


def test_ip_check_ignores_xff_for_keys_without_trusted_proxies() -> None:
    v = admitted(run("kws", {"X-Forwarded-For": "1.2.3.4"}, peer="8.8.8.8"))
    assert v.client_ip == "8.8.8.8"


def test_required_token_missing_is_401_actor_token_required() -> None:
    v = refused(run("kreq"), errors.ActorTokenRequired)
    assert (v.error.status, v.error.code) == (401, "actor_token_required")
    assert v.key is not None and v.key.name == f"{WS}/keys/kreq"
    assert admitted(run("kreq", {"X-Oggy-Actor": token()})).attribution.actor == ALICE


def test_invalid_token_is_401_with_reason_in_message_only() -> None:
    bad = token()[:-4] + "AAAA"
    v = refused(run("kws", {"X-Oggy-Actor": bad}), errors.ActorTokenInvalid)
    err = v.error
    assert isinstance(err, errors.ActorTokenInvalid)
    assert (err.status, err.code, err.reason) == (401, "actor_token_invalid", "bad_signature")
    assert "bad_signature" in err.message and bad not in err.message
    assert v.attribution is None  # nobody is charged on a forged identity


def test_token_attributes_the_request() -> None:
    v = admitted(run("kws", {"X-Oggy-Actor": token("bob", team="ops", app="etl", env="prod")}))
    who = v.attribution
    assert (who.actor, who.team, who.app, who.environment) == (
        actor("bob"),
        actor("ops"),
        "etl",
        "prod",
    )


def test_unsigned_headers_never_change_who_pays() -> None:
    spoof = {"X-Oggy-User": actor("bob"), "X-Oggy-Team": actor("ops"), "X-Oggy-Actor-Id": "bob"}
    assert admitted(run("kws", spoof)).attribution.actor == ""
    who = admitted(run("kalice", spoof)).attribution
    assert (who.actor, who.team) == (ALICE, actor("ml"))


def test_bound_key_token_for_someone_else_is_refused() -> None:
    v = refused(run("kalice", {"X-Oggy-Actor": token("bob")}), errors.ActorTokenInvalid)
    assert isinstance(v.error, errors.ActorTokenInvalid) and v.error.reason == "actor_mismatch"
    assert v.key is not None and v.key.actor == ALICE  # the key's owner pays, not the token's


def test_disabled_bound_actor_is_403() -> None:
    v = refused(run("kcarol"), errors.ActorDisabled)
    assert v.error.status == 403 and v.error.code == "actor_disabled"


def test_labels_only_when_policy_allows() -> None:
    headers = {"X-Oggy-Tags": "feature=search,bad key=x,tier=gold", "X-Oggy-Workflow": "nightly"}
    v = refused(run("klabels", headers, body=b"{"), errors.InvalidJson)  # labels known even so
    assert v.labels == {"feature": "search", "tier": "gold"}
    assert v.attribution is not None and v.attribution.workflow == "nightly"
    w = admitted(run("kws", headers))
    assert w.labels is None and w.attribution.workflow == ""


def test_signed_workflow_beats_the_unsigned_header() -> None:
    headers = {"X-Oggy-Actor": token(workflow="signed"), "X-Oggy-Workflow": "unsigned"}
    v = run("klabels", headers)
    assert v.attribution is not None and v.attribution.workflow == "signed"


def test_shadow_policy_records_but_never_blocks() -> None:
    v = admitted(run("kshadow", body=BODY.replace(b"gpt-4o-mini", b"gpt-4o")))
    # The first shadow reason wins (the token check comes before the model's).
    assert v.shadow_reason == "actor_token_required"


def test_token_actor_policies_apply_on_a_workspace_key() -> None:
    headers = {"X-Oggy-Actor": token("bob")}
    v = admitted(run("kws", headers, peer="8.8.8.8"))
    assert v.key.name == f"{WS}/keys/kws"
    assert isinstance(v.policy.check_model("gpt-4o"), Deny)  # bob's own policy
    assert isinstance(v.policy.check_model("gpt-4o-mini"), Allow)
    assert admitted(run("kws", headers, peer="8.8.8.8")).key is v.key  # memoised
    gpt4o = BODY.replace(b"gpt-4o-mini", b"gpt-4o")
    r = refused(run("kws", headers, body=gpt4o), errors.ModelNotAllowed)
    assert r.attribution is not None and r.attribution.actor == actor("bob")
    # Without a token the workspace key's policy is unchanged.
    assert isinstance(run("kws", body=gpt4o), Admitted)


@pytest.mark.parametrize(("peer", "allowed"), [("10.9.9.9", True), ("8.8.8.8", False)])
def test_token_actor_team_policies_apply_on_a_workspace_key(peer: str, allowed: bool) -> None:
    v = run("kws", {"X-Oggy-Actor": token("dave")}, peer=peer)
    assert isinstance(v, Admitted) is allowed
    if not allowed:
        r = refused(v, errors.ClientIpNotAllowed)
        assert r.attribution is not None and r.attribution.actor == actor("dave")


# ---------------------------------------------------------------- the body and the model


def chat(model: str, **fields: object) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "x"}], **fields})


def test_bad_body_is_400_after_the_caller_checks() -> None:
    v = refused(run("kws", body=b"{not json"), errors.InvalidJson)
    assert v.body_read and v.request is None and v.attribution is not None
    # A caller that fails its own checks never has its body judged.
    refused(run("kcarol", body=b"{not json"), errors.ActorDisabled)


def test_too_large_body_is_refused_at_the_body_step() -> None:
    too_large = errors.RequestTooLarge()
    v = refused(run("kws", body=too_large), errors.RequestTooLarge)
    assert v.error is too_large and not v.body_read and v.attribution is not None
    refused(run("kcidr", peer="8.8.8.8", body=too_large), errors.ClientIpNotAllowed)


def test_denied_model_is_403_whether_or_not_it_is_served() -> None:
    v = refused(run("kws", body=chat("secret-model")), errors.ModelNotAllowed)
    assert v.model == "secret-model" and isinstance(v.request, ChatRequest)
    assert v.body_read


def test_unserved_model_is_404_naming_the_endpoint() -> None:
    v = refused(run("kws", body=chat("claude-9")), errors.ModelNotFound)
    assert v.error.status == 404 and "/v1/chat/completions" in v.error.message
    assert v.model == "claude-9"
    # The OpenAI provider does not speak Anthropic's wire: nowhere to go on /v1/messages.
    body = orjson.dumps(
        {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )
    refused(run("kws", endpoint=MESSAGES, body=body), errors.ModelNotFound)


def test_max_tokens_reject_and_cap() -> None:
    v = refused(run("kover", body=chat("gpt-4o-mini", max_tokens=51)), errors.MaxTokensExceeded)
    assert v.error.status == 400
    assert isinstance(run("kover", body=chat("gpt-4o-mini", max_tokens=50)), Admitted)
    # CAP: lowered in the body that goes upstream, never refused.
    a = admitted(run("kalice", body=chat("gpt-4o-mini", max_tokens=500)))
    assert isinstance(a.request, ChatRequest)
    assert orjson.loads(a.request.payload)["max_tokens"] == 100


def test_provider_policy_filters_targets() -> None:
    v = refused(run("kreplay"), errors.ProviderNotAllowed)
    assert v.error.status == 403 and v.model == "gpt-4o-mini"


# ---------------------------------------------------------------- other endpoint kinds


def test_passthrough_with_and_without_a_model() -> None:
    headers = {"Content-Type": "application/json"}
    v = admitted(run("kws", headers, endpoint=PASSTHROUGH, raw_path="/v1/moderations"))
    assert isinstance(v.request, PassthroughRequest) and v.request.payload == BODY
    assert v.model == "gpt-4o-mini" and v.targets[0].model == "gpt-4o-mini"
    v = admitted(run("kws", endpoint=PASSTHROUGH, body=b"", raw_path="/v1/files?limit=2"))
    assert v.model == "" and [(t.provider.name, t.model) for t in v.targets] == [
        (f"{WS}/providers/fake", "")
    ]
    r = refused(
        run("kws", headers, endpoint=PASSTHROUGH, body=chat("secret-x"), raw_path="/v1/x"),
        errors.ModelNotAllowed,
    )
    assert r.model == "secret-x"


@pytest.mark.parametrize("path", ["/v1/x/../admin", "/v1/x//y", "/v1/x/%2e%2e/admin"])
def test_passthrough_refuses_paths_that_are_not_plain(path: str) -> None:
    refused(run("kws", endpoint=PASSTHROUGH, body=b"", raw_path=path), errors.InvalidRequest)
    # ...but only once the caller is known.
    refused(
        run("kws", endpoint=PASSTHROUGH, body=b"", raw_path=path, secret="x"),
        errors.InvalidApiKey,
    )


def test_listing_is_the_models_the_policy_allows() -> None:
    v = admitted(run("kws", endpoint=MODELS, body=b""))
    assert [t.model for t in v.targets] == ["gpt-4o", "gpt-4o-mini"]
    v = admitted(run("kws", {"X-Oggy-Actor": token("bob")}, endpoint=MODELS, body=b""))
    assert [t.model for t in v.targets] == ["gpt-4o-mini"]  # bob may not use gpt-4o
    assert v.request is None and v.model == ""


def test_refusal_headers_come_from_the_error() -> None:
    err = errors.GatewayError("slow down", headers={"Retry-After": "3"})
    v = Refused(err, None, None, "10.0.0.1")
    assert dict(v.headers) == {"Retry-After": "3"}
    assert dict(refused(run("kreq"), errors.ActorTokenRequired).headers) == {}


@pytest.mark.parametrize(
    ("key_id", "xff", "client", "allowed"),
    [
        ("kws", "10.1.2.3", "10.1.2.3", True),
        ("kws", None, "127.0.0.1", False),
        # The key's own allowlist is checked with erin's proxies merged in too.
        ("kcidr", "10.1.2.3", "10.1.2.3", True),
    ],
)
def test_token_actor_trusted_proxies_resolve_the_client_ip(
    key_id: str, xff: str | None, client: str, allowed: bool
) -> None:
    headers = {"X-Oggy-Actor": token(actor("erin"))}
    if xff:
        headers["X-Forwarded-For"] = xff
    v = run(key_id, headers, peer="127.0.0.1")
    assert v.client_ip == client and v.attribution is not None
    assert v.attribution.actor == actor("erin")
    if allowed:
        admitted(v)
    else:
        assert refused(v, errors.ClientIpNotAllowed).error.code == "ip_not_allowed"


def test_a_key_grant_survives_a_workspace_policy_that_says_nothing_about_it() -> None:
    models_only = Policy(name=f"{WS}/policies/ws", target=WS, allowed_models=["gpt-4o*"])
    deny = Policy(name=f"{WS}/policies/ws-deny", target=WS, record_labels=Policy.GRANT_DENY)
    authorization = f"Bearer {key_text('klabels')}"
    ask = Ask({"X-Oggy-Tags": "feature=search"}, "10.0.0.1", BODY, None, "/v1/chat/completions")
    for extra, labels in (([models_only], {"feature": "search"}), ([models_only, deny], None)):
        cfg = compile_snapshot(
            identity_snapshot(extra_policies=extra), replay_caches=ReplayCaches()
        )
        v = admitted(admit(find_key(cfg.keys_by_id, authorization, NOW), ask, CHAT, NOW))
        assert v.labels == labels
