"""`oggy actor|signing-key|key rotate|policy` against the real AdminService, in-process."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from oggy.v1 import actor_pb2, policy_pb2
from oggy.v1 import admin_service_pb2 as pb
from tests.integration.cli_admin_server import (  # noqa: F401
    AdminServer,
    admin_fixture,
    demo_cli_fixture,
    oggy,
)
from tests.integration.cli_admin_server import usage_event as event

WS = "workspaces/demo"
HMAC_SECRET = "hs256-shared-secret-0123456789abcdefXYZ"
KEY_ID = "kone000000000001"
KEY = f"{WS}/keys/{KEY_ID}"


def stored_policy(admin: AdminServer, policy_id: str) -> policy_pb2.Policy:
    request = pb.GetPolicyRequest(name=f"{WS}/policies/{policy_id}")
    return admin.client.stub.GetPolicy(request).policy


def test_actor_create_list_disable_enable(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "actor", "create", "ml", "--kind", "team") == 0
    assert oggy(env, "actor", "create", "alice", "--kind", "user", "--team", "ml",
                "--display-name", "Alice") == 0  # fmt: skip
    request = admin.last("CreateActor")
    assert (request.parent, request.actor_id) == (WS, "alice")
    assert list(request.actor.teams) == [f"{WS}/actors/ml"]
    assert request.actor.kind == actor_pb2.Actor.Kind.KIND_USER
    capsys.readouterr()

    assert oggy(env, "actor", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "KIND", "DISPLAY", "NAME", "TEAMS", "STATE", "CREATED"]
    assert table[1].split()[:5] == ["alice", "user", "Alice", "ml", "active"]

    assert oggy(env, "actor", "disable", "alice", "--format", "json") == 0
    disabled = json.loads(capsys.readouterr().out)
    assert disabled["disabled"] is True and disabled["teams"] == [f"{WS}/actors/ml"]
    update = admin.last("UpdateActor")
    assert list(update.update_mask.paths) == ["disabled"]
    assert update.actor.name == f"{WS}/actors/alice"
    assert oggy(env, "actor", "enable", "alice") == 0
    assert "active" in capsys.readouterr().out
    stored = admin.client.stub.GetActor(pb.GetActorRequest(name=f"{WS}/actors/alice")).actor
    assert stored.disabled is False
    assert oggy(env, "actor", "disable", "bob") == 1
    assert capsys.readouterr().err == f"error: NOT_FOUND: {WS}/actors/bob not found\n"


def test_signing_key_hs256_secret_from_env_is_never_printed(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    env = {**env, "ACTOR_SECRET": HMAC_SECRET}
    argv = ["signing-key", "add", "--kid", "app-1", "--alg", "HS256", "--secret-env"]
    assert oggy(env, *argv, "ACTOR_SECRET") == 0
    assert oggy(env, "signing-key", "list", "--format", "json") == 0
    assert oggy(env, "signing-key", "list") == 0
    captured = capsys.readouterr()
    assert HMAC_SECRET not in captured.out + captured.err
    assert admin.last("CreateSigningKey").signing_key.hmac_secret == HMAC_SECRET
    # Kept encrypted for the data planes; never returned by the admin API.
    request = pb.GetSigningKeyRequest(name=f"{WS}/signingKeys/app-1")
    assert admin.client.stub.GetSigningKey(request).signing_key.hmac_secret == ""
    assert "HS256" in captured.out and "app-1" in captured.out
    # A secret pasted where a variable name belongs is refused without being echoed.
    assert oggy(env, *argv, HMAC_SECRET) == 2
    assert HMAC_SECRET not in capsys.readouterr().err
    assert oggy(env, "signing-key", "remove", "app-1") == 0
    assert capsys.readouterr().out == f"deleted {WS}/signingKeys/app-1\n"


def test_signing_key_secret_from_stdin_and_public_key_file(
    demo_cli: tuple[AdminServer, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    admin, env = demo_cli
    monkeypatch.setattr("sys.stdin", io.StringIO(HMAC_SECRET + "\n"))
    assert oggy(env, "signing-key", "add", "--kid", "K.1", "--alg", "HS256") == 0
    assert admin.last("CreateSigningKey").signing_key_id == "K.1"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert oggy(env, "signing-key", "add", "--kid", "k2", "--alg", "HS256") == 2
    assert "at least 32 bytes" in capsys.readouterr().err

    pem = tmp_path / "pub.pem"
    public = Ed25519PrivateKey.generate().public_key()
    pem.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    argv = ["signing-key", "add", "--kid", "ed", "--alg", "EdDSA", "--public-key-file", str(pem)]
    assert oggy(env, *argv) == 0
    assert admin.last("CreateSigningKey").signing_key.public_key_pem == pem.read_text()
    assert oggy(env, "signing-key", "add", "--kid", "es", "--alg", "ES256") == 2
    assert "needs --public-key-file" in capsys.readouterr().err


def test_key_create_bound_and_rotate_prints_new_text_and_deadline(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "actor", "create", "alice", "--kind", "user") == 0
    argv = ["key", "create", "--id", KEY_ID, "--actor", "alice", "--expires-in", "30d"]
    assert oggy(env, *argv, "--environment", "test") == 0
    created = admin.last("CreateGatewayKey").gateway_key
    assert created.actor == f"{WS}/actors/alice" and created.environment == "test"
    assert created.HasField("expire_time")
    capsys.readouterr()

    assert oggy(env, "key", "rotate", f"oggy_test_{KEY_ID}", "--grace", "24h") == 0
    captured = capsys.readouterr()
    assert re.search(rf"^key: +oggy_test_{KEY_ID}_[A-Za-z0-9]{{43}}$", captured.out, re.M)
    assert "old secret until:  2025-06-02T12:00:00Z" in captured.out
    assert "shown once" in captured.err
    rotate = admin.last("RotateGatewayKey")
    assert (rotate.name, rotate.grace.seconds) == (KEY, 86400)

    assert oggy(env, "key", "rotate", KEY_ID, "--grace", "0s", "--format", "json") == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["key_text"].startswith(f"oggy_test_{KEY_ID}_")
    assert rotated["gateway_key"]["previous_secret_expire_time"] == "2025-06-01T12:00:00Z"

    admin.insert_usage([event(f"e{i}", 60, key=KEY) for i in range(42)])
    assert oggy(env, "key", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[-4:] == ["EXPIRES", "LAST", "USED", "USES"]
    assert table[1].split()[-1] == "42"

    assert oggy(env, "key", "revoke", KEY_ID) == 0
    assert oggy(env, "key", "rotate", KEY_ID, "--grace", "1h") == 1
    assert capsys.readouterr().err.startswith("error: FAILED_PRECONDITION: ")


def test_policy_set_creates_then_updates_exactly_the_flags_given(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "policy", "set", "--allow-models", "gpt-4o*", "--max-output-tokens",
                "1024") == 0  # fmt: skip
    create = admin.last("CreatePolicy")
    assert (create.parent, create.policy_id, create.policy.target) == (WS, "ws", WS)
    assert list(create.policy.allowed_models) == ["gpt-4o*"]
    assert "created workspaces/demo/policies/ws" in capsys.readouterr().err

    assert oggy(env, "policy", "set", "--deny-models", "gpt-4.5*", "--prompt-logging", "full",
                "--prompt-retention", "7d", "--redact", "ticket=TKT-[0-9]+") == 0  # fmt: skip
    update = admin.last("UpdatePolicy")
    assert update.policy.name == f"{WS}/policies/ws"
    assert list(update.update_mask.paths) == [
        "denied_models", "prompt_logging", "prompt_retention", "redaction_rules",
    ]  # fmt: skip
    stored = stored_policy(admin, "ws")
    assert list(stored.allowed_models) == ["gpt-4o*"]  # untouched
    assert stored.max_output_tokens == 1024
    assert list(stored.denied_models) == ["gpt-4.5*"]
    assert stored.prompt_logging == policy_pb2.Policy.PromptLogging.PROMPT_LOGGING_FULL
    out = capsys.readouterr().out
    assert "prompt retention:" in out and "7d" in out

    # Clearing a list: the flag with no values.
    assert oggy(env, "policy", "set", "--allow-models") == 0
    assert list(admin.last("UpdatePolicy").update_mask.paths) == ["allowed_models"]
    assert list(stored_policy(admin, "ws").allowed_models) == []
    capsys.readouterr()
    assert oggy(env, "policy", "set") == 2
    assert "nothing to change" in capsys.readouterr().err


def test_policy_set_for_team_actor_key_and_shadow(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    oggy(env, "actor", "create", "ml", "--kind", "team")
    oggy(env, "actor", "create", "alice", "--kind", "user", "--team", "ml")
    oggy(env, "key", "create", "--id", KEY_ID, "--actor", "alice")
    assert oggy(env, "policy", "set", "--team", "ml", "--allow-cidrs", "10.0.0.0/8") == 0
    assert admin.last("CreatePolicy").policy_id == "team-ml"
    assert oggy(env, "policy", "set", "--actor", "alice", "--require-actor-token") == 0
    assert admin.last("CreatePolicy").policy_id == "actor-alice"
    assert oggy(env, "policy", "set", "--key", KEY_ID, "--max-output-tokens", "100") == 0
    assert admin.last("CreatePolicy").policy.target == f"{WS}/keys/{KEY_ID}"
    assert oggy(env, "policy", "set", "--key", KEY_ID, "--shadow", "--deny-models", "o3*") == 0
    shadow = admin.last("CreatePolicy")
    assert (shadow.policy_id, shadow.policy.shadow) == (f"key-{KEY_ID}-shadow", True)
    # The enforced key policy is updated, not the shadow one.
    assert oggy(env, "policy", "set", "--key", KEY_ID, "--max-tokens-mode", "reject") == 0
    assert admin.last("UpdatePolicy").policy.name == f"{WS}/policies/key-{KEY_ID}"
    # --team must name a team actor.
    capsys.readouterr()
    assert oggy(env, "policy", "set", "--team", "alice", "--allow-labels") == 2
    assert "not a team" in capsys.readouterr().err

    assert oggy(env, "policy", "show", "--key", KEY_ID) == 0
    out = capsys.readouterr().out
    assert f"# policies attached to keys/{KEY_ID}: 2" in out
    assert (
        f"sources, most general first: team-ml, actor-alice, key-{KEY_ID}, key-{KEY_ID}-shadow"
        in out
    )
    assert "# effective shadow policy" in out
    assert admin.last("GetEffectivePolicy").target == f"{WS}/keys/{KEY_ID}"
    assert oggy(env, "policy", "show", "--key", KEY_ID, "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in shown["policies"]] == [
        f"{WS}/policies/key-{KEY_ID}", f"{WS}/policies/key-{KEY_ID}-shadow",
    ]  # fmt: skip
    assert shown["effective"]["policy"]["max_output_tokens"] == "100"
    assert shown["effective"]["sources"][-1] == f"{WS}/policies/key-{KEY_ID}-shadow"

    assert oggy(env, "policy", "list", "--format", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert oggy(env, "policy", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "TARGET", "SHADOW"]
    assert lines[1].split()[:2] == ["actor-alice", "actors/alice"]
    assert oggy(env, "policy", "delete", f"key-{KEY_ID}-shadow") == 0
    listed = admin.client.stub.ListPolicies(pb.ListPoliciesRequest(parent=WS)).policies
    assert f"{WS}/policies/key-{KEY_ID}-shadow" not in [p.name for p in listed]


def test_policy_set_with_name(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    assert oggy(env, "policy", "set", "--name", "baseline", "--allow-labels") == 0
    assert admin.last("CreatePolicy").policy_id == "baseline"
    assert oggy(env, "policy", "set", "--name", "baseline", "--no-allow-labels") == 0
    assert admin.last("UpdatePolicy").policy.name == f"{WS}/policies/baseline"
    assert stored_policy(admin, "baseline").allow_labels is False
    # A second workspace policy without --name is ambiguous.
    assert oggy(env, "policy", "set", "--name", "extra", "--allow-labels") == 0
    capsys.readouterr()
    assert oggy(env, "policy", "set", "--allow-labels") == 2
    assert "pick one with --name" in capsys.readouterr().err
    # --name of a policy on another target is refused.
    oggy(env, "actor", "create", "bob", "--kind", "user")
    assert oggy(env, "policy", "set", "--name", "baseline", "--actor", "bob", "--allow-labels") == 2
    assert "applies to workspaces/demo" in capsys.readouterr().err


def test_policy_set_allow_labels_yes_no_inherit(
    demo_cli: tuple[AdminServer, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = demo_cli
    P = policy_pb2.Policy
    name = f"{WS}/policies/ws"

    def shown() -> str:
        capsys.readouterr()
        assert oggy(env, "policy", "show") == 0
        attached = capsys.readouterr().out.split("# effective policy")[0]
        [line] = [x for x in attached.splitlines() if x.startswith("allow labels")]
        return line.split(":", 1)[1].strip()

    assert oggy(env, "policy", "set", "--allow-labels") == 0
    assert admin.last("CreatePolicy").policy.record_labels == P.GRANT_ALLOW
    assert shown() == "yes"
    assert oggy(env, "policy", "set", "--allow-labels", "no") == 0
    assert list(admin.last("UpdatePolicy").update_mask.paths) == ["record_labels", "allow_labels"]
    assert stored_policy(admin, "ws").record_labels == P.GRANT_DENY
    assert shown() == "no"
    # A policy written before record_labels existed: its `allow_labels: true` grants, and
    # `inherit` takes it back to no say at all.
    legacy = P(name=name, allow_labels=True, record_labels=P.GRANT_UNSPECIFIED)
    mask = {"paths": ["allow_labels", "record_labels"]}
    admin.client.stub.UpdatePolicy(pb.UpdatePolicyRequest(policy=legacy, update_mask=mask))
    assert shown() == "yes"
    assert oggy(env, "policy", "set", "--allow-labels", "inherit") == 0
    stored = stored_policy(admin, "ws")
    assert (stored.record_labels, stored.allow_labels) == (P.GRANT_UNSPECIFIED, False)
    assert shown() == "inherit"
