"""metering.authorize on a compiled snapshot: caller checks, identity, labels, shadow reasons."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from dataplane.http.metering import authorize
from dataplane.http.record import RequestRecord
from oggy.actor_token import mint_actor_token
from oggy.contract import errors
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.contract.policy import Allow, Deny
from oggy.v1 import policy_pb2
from tests.support.identity_snapshot import ED, WS, actor, identity_snapshot, key_text

NOW_NS = 1_800_000_000 * 10**9
CFG = compile_snapshot(identity_snapshot(), replay_caches=ReplayCaches())
ALICE = actor("alice")


def token(subject: str = ALICE, **claims: str) -> str:
    return mint_actor_token(ED, kid="ed", workspace=WS, subject=subject, now=NOW_NS / 1e9, **claims)


def run(key_id: str, headers: dict[str, str] | None = None, peer: str = "10.0.0.1"):
    rec = RequestRecord("req-1", "/v1/chat/completions", NOW_NS, 0.0, peer)
    request = make_mocked_request(
        "POST",
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key_text(key_id)}", **(headers or {})},
    )
    try:
        authorize(request, rec, CFG)
    except errors.GatewayError as e:
        rec.fail(e.status, e.code)  # what `metered` does
        return rec, e
    return rec, None


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
    rec, err = run("kcidr", {"X-Forwarded-For": xff} if xff else {}, peer=peer)
    assert rec.client_ip == client
    if allowed:
        assert err is None and rec.policy_reason == ""
    else:
        assert isinstance(err, errors.ClientIpNotAllowed) and err.status == 403
        assert rec.policy_reason == "ip_not_allowed"


def test_ip_check_ignores_xff_for_keys_without_trusted_proxies() -> None:
    rec, err = run("kws", {"X-Forwarded-For": "1.2.3.4"}, peer="8.8.8.8")
    assert err is None and rec.client_ip == "8.8.8.8"


def test_required_token_missing_is_401_actor_token_required() -> None:
    rec, err = run("kreq")
    assert isinstance(err, errors.ActorTokenRequired)
    assert (err.status, err.code) == (401, "actor_token_required")
    assert rec.policy_reason == "actor_token_required" and rec.key == f"{WS}/keys/kreq"
    rec, err = run("kreq", {"X-Oggy-Actor": token()})
    assert err is None and rec.actor == ALICE


def test_invalid_token_is_401_with_reason_in_message_only() -> None:
    bad = token()[:-4] + "AAAA"
    rec, err = run("kws", {"X-Oggy-Actor": bad})
    assert isinstance(err, errors.ActorTokenInvalid)
    assert (err.status, err.code, err.reason) == (401, "actor_token_invalid", "bad_signature")
    assert "bad_signature" in err.message and bad not in err.message
    assert rec.policy_reason == rec.error_type == "actor_token_invalid"
    assert rec.actor == ""  # nobody is charged on a forged identity
    event = rec.to_event(1.0, "dp")
    assert bad not in str(event)


def test_token_attributes_the_request() -> None:
    rec, err = run("kws", {"X-Oggy-Actor": token("bob", team="ops", app="etl", env="prod")})
    assert err is None
    ev = rec.to_event(1.0, "dp")
    assert (ev.actor, ev.team, ev.app, ev.environment) == (
        actor("bob"),
        actor("ops"),
        "etl",
        "prod",
    )


def test_unsigned_headers_never_change_who_pays() -> None:
    spoof = {"X-Oggy-User": actor("bob"), "X-Oggy-Team": actor("ops"), "X-Oggy-Actor-Id": "bob"}
    rec, _ = run("kws", spoof)
    assert (rec.actor, rec.team) == ("", "")
    rec, _ = run("kalice", spoof)
    assert (rec.actor, rec.team) == (ALICE, actor("ml"))


def test_bound_key_token_for_someone_else_is_refused() -> None:
    rec, err = run("kalice", {"X-Oggy-Actor": token("bob")})
    assert isinstance(err, errors.ActorTokenInvalid) and err.reason == "actor_mismatch"
    assert rec.actor == ALICE  # the key's owner, not the token's subject


def test_disabled_bound_actor_is_403() -> None:
    rec, err = run("kcarol")
    assert isinstance(err, errors.ActorDisabled) and err.status == 403
    assert rec.policy_reason == "actor_disabled"


def test_labels_only_when_policy_allows() -> None:
    headers = {"X-Oggy-Tags": "feature=search,bad key=x,tier=gold", "X-Oggy-Workflow": "nightly"}
    rec, _ = run("klabels", headers)
    assert rec.labels == {"feature": "search", "tier": "gold"}
    assert rec.workflow == "nightly"
    ev = rec.to_event(1.0, "dp")
    assert dict(ev.labels) == {"feature": "search", "tier": "gold"} and ev.workflow == "nightly"
    rec, _ = run("kws", headers)
    assert rec.labels is None and rec.workflow == ""


def test_signed_workflow_beats_the_unsigned_header() -> None:
    rec, _ = run(
        "klabels", {"X-Oggy-Actor": token(workflow="signed"), "X-Oggy-Workflow": "unsigned"}
    )
    assert rec.workflow == "signed"


def test_shadow_policy_records_but_never_blocks() -> None:
    rec, err = run("kshadow")
    assert err is None
    assert rec.shadow_reason == "actor_token_required" and rec.policy_reason == ""
    assert rec.to_event(1.0, "dp").shadow_reason == "actor_token_required"


def test_failed_key_auth_sets_policy_reason() -> None:
    rec = RequestRecord("r", "/v1/models", NOW_NS, 0.0, "127.0.0.1")
    rec.fail(401, "key_revoked")
    assert rec.policy_reason == "key_revoked"
    rec = RequestRecord("r", "/v1/models", NOW_NS, 0.0, "127.0.0.1")
    rec.fail(504, "upstream_timeout")
    assert rec.policy_reason == ""


def test_token_actor_policies_apply_on_a_workspace_key() -> None:
    request = make_mocked_request(
        "POST",
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key_text('kws')}", "X-Oggy-Actor": token("bob")},
    )
    rec = RequestRecord("r", "/v1/chat/completions", NOW_NS, 0.0, "8.8.8.8")
    key = authorize(request, rec, CFG)
    assert key.name == f"{WS}/keys/kws"
    assert isinstance(key.policy.check_model("gpt-4o"), Deny)  # bob's own policy
    assert isinstance(key.policy.check_model("gpt-4o-mini"), Allow)
    assert authorize(request, rec, CFG) is key  # memoised per (key, actor)
    # Without a token (or as alice) the workspace key's policy is unchanged.
    plain = CFG.keys_by_id["kws"]
    assert isinstance(plain.policy.check_model("gpt-4o"), Allow)
    _, err = run("kws", {"X-Oggy-Actor": token()}, peer="8.8.8.8")
    assert err is None


@pytest.mark.parametrize(("peer", "allowed"), [("10.9.9.9", True), ("8.8.8.8", False)])
def test_token_actor_team_policies_apply_on_a_workspace_key(peer: str, allowed: bool) -> None:
    rec, err = run("kws", {"X-Oggy-Actor": token("dave")}, peer=peer)
    assert (err is None) is allowed
    if not allowed:
        assert isinstance(err, errors.ClientIpNotAllowed)
        assert rec.policy_reason == "ip_not_allowed" and rec.actor == actor("dave")


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
    rec, err = run(key_id, headers, peer="127.0.0.1")
    assert rec.client_ip == client and rec.actor == actor("erin")
    assert (err is None) is allowed
    if not allowed:
        assert isinstance(err, errors.ClientIpNotAllowed) and rec.policy_reason == "ip_not_allowed"


def test_a_key_grant_survives_a_workspace_policy_that_says_nothing_about_it() -> None:
    P = policy_pb2.Policy
    models_only = P(name=f"{WS}/policies/ws", target=WS, allowed_models=["gpt-4o*"])
    deny = P(name=f"{WS}/policies/ws-deny", target=WS, record_labels=P.GRANT_DENY)
    headers = {"X-Oggy-Tags": "feature=search"}
    for extra, labels in (([models_only], {"feature": "search"}), ([models_only, deny], None)):
        cfg = compile_snapshot(
            identity_snapshot(extra_policies=extra), replay_caches=ReplayCaches()
        )
        rec = RequestRecord("r", "/v1/chat/completions", NOW_NS, 0.0, "10.0.0.1")
        request = make_mocked_request(
            "POST",
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key_text('klabels')}", **headers},
        )
        authorize(request, rec, cfg)
        assert rec.labels == labels
