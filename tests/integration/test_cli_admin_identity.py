"""`oggy actor|signing-key|key rotate|policy` against the in-process fake AdminService."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from oggy.v1 import actor_pb2, policy_pb2
from tests.integration.cli_fake_admin import FakeAdmin, demo_cli, last, oggy

fake = demo_cli

WS = "workspaces/demo"
HMAC_SECRET = "hs256-shared-secret-0123456789abcdefXYZ"


def test_actor_create_list_disable_enable(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    assert oggy(env, "actor", "create", "ml", "--kind", "team") == 0
    assert oggy(env, "actor", "create", "alice", "--kind", "user", "--team", "ml",
                "--display-name", "Alice") == 0  # fmt: skip
    request = last(admin, "CreateActor")
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
    update = last(admin, "UpdateActor")
    assert list(update.update_mask.paths) == ["disabled"]
    assert update.actor.name == f"{WS}/actors/alice"
    assert oggy(env, "actor", "enable", "alice") == 0
    assert "active" in capsys.readouterr().out
    assert admin.actors[f"{WS}/actors/alice"].disabled is False
    assert oggy(env, "actor", "disable", "bob") == 1
    assert capsys.readouterr().err == f"error: NOT_FOUND: {WS}/actors/bob not found\n"


def test_signing_key_hs256_secret_from_env_is_never_printed(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    env = {**env, "ACTOR_SECRET": HMAC_SECRET}
    argv = ["signing-key", "add", "--kid", "app-1", "--alg", "HS256", "--secret-env"]
    assert oggy(env, *argv, "ACTOR_SECRET") == 0
    assert oggy(env, "signing-key", "list", "--format", "json") == 0
    assert oggy(env, "signing-key", "list") == 0
    captured = capsys.readouterr()
    assert HMAC_SECRET not in captured.out + captured.err
    assert last(admin, "CreateSigningKey").signing_key.hmac_secret == HMAC_SECRET
    assert admin.hmac_secrets[f"{WS}/signingKeys/app-1"] == HMAC_SECRET
    assert "HS256" in captured.out and "app-1" in captured.out
    # A secret pasted where a variable name belongs is refused without being echoed.
    assert oggy(env, *argv, HMAC_SECRET) == 2
    assert HMAC_SECRET not in capsys.readouterr().err
    assert oggy(env, "signing-key", "remove", "app-1") == 0
    assert capsys.readouterr().out == f"deleted {WS}/signingKeys/app-1\n"


def test_signing_key_secret_from_stdin_and_public_key_file(
    fake: tuple[FakeAdmin, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    admin, env = fake
    monkeypatch.setattr("sys.stdin", io.StringIO(HMAC_SECRET + "\n"))
    assert oggy(env, "signing-key", "add", "--kid", "K.1", "--alg", "HS256") == 0
    assert last(admin, "CreateSigningKey").signing_key_id == "K.1"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert oggy(env, "signing-key", "add", "--kid", "k2", "--alg", "HS256") == 2
    assert "at least 32 bytes" in capsys.readouterr().err

    pem = tmp_path / "pub.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
    argv = ["signing-key", "add", "--kid", "ed", "--alg", "EdDSA", "--public-key-file", str(pem)]
    assert oggy(env, *argv) == 0
    assert last(admin, "CreateSigningKey").signing_key.public_key_pem == pem.read_text()
    assert oggy(env, "signing-key", "add", "--kid", "es", "--alg", "ES256") == 2
    assert "needs --public-key-file" in capsys.readouterr().err


def test_key_create_bound_and_rotate_prints_new_text_and_deadline(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    argv = ["key", "create", "--id", "kone", "--actor", "alice", "--expires-in", "30d"]
    assert oggy(env, *argv, "--environment", "test") == 0
    created = last(admin, "CreateGatewayKey").gateway_key
    assert created.actor == f"{WS}/actors/alice" and created.environment == "test"
    assert created.HasField("expire_time")
    capsys.readouterr()

    assert oggy(env, "key", "rotate", "oggy_live_kone", "--grace", "24h") == 0
    captured = capsys.readouterr()
    assert f"oggy_live_kone_{'R' * 43}" in captured.out
    assert "old secret until:  2025-06-02T12:00:00Z" in captured.out
    assert "shown once" in captured.err
    rotate = last(admin, "RotateGatewayKey")
    assert (rotate.name, rotate.grace.seconds) == (f"{WS}/keys/kone", 86400)

    assert oggy(env, "key", "rotate", "kone", "--grace", "0s", "--format", "json") == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["key_text"].endswith("R" * 43)
    assert rotated["gateway_key"]["previous_secret_expire_time"] == "2025-06-01T12:00:00Z"

    admin.keys[f"{WS}/keys/kone"].use_count = 42
    assert oggy(env, "key", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[-4:] == ["EXPIRES", "LAST", "USED", "USES"]
    assert table[1].split()[-1] == "42"

    assert oggy(env, "key", "revoke", "kone") == 0
    assert oggy(env, "key", "rotate", "kone", "--grace", "1h") == 1
    assert capsys.readouterr().err.startswith("error: FAILED_PRECONDITION: ")


def test_policy_set_creates_then_updates_exactly_the_flags_given(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    assert oggy(env, "policy", "set", "--allow-models", "gpt-4o*", "--max-output-tokens",
                "1024") == 0  # fmt: skip
    create = last(admin, "CreatePolicy")
    assert (create.parent, create.policy_id, create.policy.target) == (WS, "ws", WS)
    assert list(create.policy.allowed_models) == ["gpt-4o*"]
    assert "created workspaces/demo/policies/ws" in capsys.readouterr().err

    assert oggy(env, "policy", "set", "--deny-models", "gpt-4.5*", "--prompt-logging", "full",
                "--prompt-retention", "7d", "--redact", "ticket=TKT-[0-9]+") == 0  # fmt: skip
    update = last(admin, "UpdatePolicy")
    assert update.policy.name == f"{WS}/policies/ws"
    assert list(update.update_mask.paths) == [
        "denied_models", "prompt_logging", "prompt_retention", "redaction_rules",
    ]  # fmt: skip
    stored = admin.policies[f"{WS}/policies/ws"]
    assert list(stored.allowed_models) == ["gpt-4o*"]  # untouched
    assert stored.max_output_tokens == 1024
    assert list(stored.denied_models) == ["gpt-4.5*"]
    assert stored.prompt_logging == policy_pb2.Policy.PromptLogging.PROMPT_LOGGING_FULL
    out = capsys.readouterr().out
    assert "prompt retention:" in out and "7d" in out

    # Clearing a list: the flag with no values.
    assert oggy(env, "policy", "set", "--allow-models") == 0
    assert list(last(admin, "UpdatePolicy").update_mask.paths) == ["allowed_models"]
    assert list(admin.policies[f"{WS}/policies/ws"].allowed_models) == []
    capsys.readouterr()
    assert oggy(env, "policy", "set") == 2
    assert "nothing to change" in capsys.readouterr().err


def test_policy_set_for_team_actor_key_and_shadow(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    oggy(env, "actor", "create", "ml", "--kind", "team")
    oggy(env, "actor", "create", "alice", "--kind", "user", "--team", "ml")
    oggy(env, "key", "create", "--id", "kone", "--actor", "alice")
    assert oggy(env, "policy", "set", "--team", "ml", "--allow-cidrs", "10.0.0.0/8") == 0
    assert last(admin, "CreatePolicy").policy_id == "team-ml"
    assert oggy(env, "policy", "set", "--actor", "alice", "--require-actor-token") == 0
    assert last(admin, "CreatePolicy").policy_id == "actor-alice"
    assert oggy(env, "policy", "set", "--key", "kone", "--max-output-tokens", "100") == 0
    assert last(admin, "CreatePolicy").policy.target == f"{WS}/keys/kone"
    assert oggy(env, "policy", "set", "--key", "kone", "--shadow", "--deny-models", "o3*") == 0
    shadow = last(admin, "CreatePolicy")
    assert (shadow.policy_id, shadow.policy.shadow) == ("key-kone-shadow", True)
    # The enforced key policy is updated, not the shadow one.
    assert oggy(env, "policy", "set", "--key", "kone", "--max-tokens-mode", "reject") == 0
    assert last(admin, "UpdatePolicy").policy.name == f"{WS}/policies/key-kone"
    # --team must name a team actor.
    capsys.readouterr()
    assert oggy(env, "policy", "set", "--team", "alice", "--allow-labels") == 2
    assert "not a team" in capsys.readouterr().err

    assert oggy(env, "policy", "show", "--key", "kone") == 0
    out = capsys.readouterr().out
    assert "# policies attached to keys/kone: 2" in out
    assert "sources, most general first: team-ml, actor-alice, key-kone, key-kone-shadow" in out
    assert "# effective shadow policy" in out
    assert last(admin, "GetEffectivePolicy").target == f"{WS}/keys/kone"
    assert oggy(env, "policy", "show", "--key", "kone", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in shown["policies"]] == [
        f"{WS}/policies/key-kone", f"{WS}/policies/key-kone-shadow",
    ]  # fmt: skip
    assert shown["effective"]["policy"]["max_output_tokens"] == "100"
    assert shown["effective"]["sources"][-1] == f"{WS}/policies/key-kone-shadow"

    assert oggy(env, "policy", "list", "--format", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert oggy(env, "policy", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "TARGET", "SHADOW"]
    assert lines[1].split()[:2] == ["actor-alice", "actors/alice"]
    assert oggy(env, "policy", "delete", "key-kone-shadow") == 0
    assert f"{WS}/policies/key-kone-shadow" not in admin.policies


def test_policy_set_with_name(
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    assert oggy(env, "policy", "set", "--name", "baseline", "--allow-labels") == 0
    assert last(admin, "CreatePolicy").policy_id == "baseline"
    assert oggy(env, "policy", "set", "--name", "baseline", "--no-allow-labels") == 0
    assert last(admin, "UpdatePolicy").policy.name == f"{WS}/policies/baseline"
    assert admin.policies[f"{WS}/policies/baseline"].allow_labels is False
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
    fake: tuple[FakeAdmin, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    admin, env = fake
    P = policy_pb2.Policy
    name = f"{WS}/policies/ws"

    def shown() -> str:
        capsys.readouterr()
        assert oggy(env, "policy", "show") == 0
        attached = capsys.readouterr().out.split("# effective policy")[0]
        [line] = [x for x in attached.splitlines() if x.startswith("allow labels")]
        return line.split(":", 1)[1].strip()

    assert oggy(env, "policy", "set", "--allow-labels") == 0
    assert last(admin, "CreatePolicy").policy.record_labels == P.GRANT_ALLOW
    assert shown() == "yes"
    assert oggy(env, "policy", "set", "--allow-labels", "no") == 0
    assert list(last(admin, "UpdatePolicy").update_mask.paths) == ["record_labels", "allow_labels"]
    assert admin.policies[name].record_labels == P.GRANT_DENY
    assert shown() == "no"
    # A policy written before record_labels existed: its `allow_labels: true` grants, and
    # `inherit` takes it back to no say at all.
    admin.policies[name].record_labels = P.GRANT_UNSPECIFIED
    admin.policies[name].allow_labels = True
    assert shown() == "yes"
    assert oggy(env, "policy", "set", "--allow-labels", "inherit") == 0
    stored = admin.policies[name]
    assert (stored.record_labels, stored.allow_labels) == (P.GRANT_UNSPECIFIED, False)
    assert shown() == "inherit"
