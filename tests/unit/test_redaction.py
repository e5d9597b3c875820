import pytest

from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.contract.redaction import RedactionRuleError, Redactor, iban_valid, luhn_valid
from oggy.v1 import key_pb2, policy_pb2, snapshot_pb2, workspace_pb2

REDACTOR = Redactor([("employee_id", r"\bEMP-\d{6}\b")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+x@example.co.uk today", "mail me at [EMAIL] today"),
        ("call +1 415-555-0199 now", "call [PHONE] now"),
        ("call (030) 1234 5678", "call [PHONE]"),
        ("card 4111 1111 1111 1111 exp", "card [CARD] exp"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("pay to DE89 3704 0044 0532 0130 00 please", "pay to [IBAN] please"),
        ("GB82WEST12345698765432", "[IBAN]"),
        ("key sk-proj-abcdefghijklmnopqrstuvwxyz123456", "key [API_KEY]"),
        ("key sk-ant-api03-abcdefghijklmnopqrstuv", "key [API_KEY]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [API_KEY]"),
        ("oggy_live_k1b2c3d4e5f6g7h8_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg", "[API_KEY]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Authorization: [BEARER_TOKEN]"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc==\n-----END RSA PRIVATE KEY----- ok",
            "[PRIVATE_KEY] ok",
        ),
        ("badge EMP-123456 entered", "badge [CUSTOM:employee_id] entered"),
        ("amex 3782 822463 10005.", "amex [CARD]."),
        ("call 415.555.0199", "call [PHONE]"),
        ("+44 20 7946 0958", "[PHONE]"),
        ("bearer abcdefghijklmnop1234", "[BEARER_TOKEN]"),
        ("gh ghp_" + "a" * 36, "gh [API_KEY]"),
        ("slack xoxb-1234567890-abcdef", "slack [API_KEY]"),
        ("gcp AIza" + "B" * 35, "gcp [API_KEY]"),
        # A key block cut short (text bounded) is redacted to the end.
        ("x -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "x [PRIVATE_KEY]"),
    ],
)
def test_detectors(text: str, expected: str) -> None:
    assert REDACTOR.redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567812345678 shipped",  # 16 digits failing Luhn
        "invoice GB00WEST12345698765432",  # IBAN shape, bad checksum
        "version 3.11.7 and port 8080",
        "the year 2026 had 365 days",
        "email-like but not: user@localhost",
        "order 4111111111111112 is not a card",  # 16 digits, Luhn fails
        "versions 1.2.3, 10.0.19041.1 and 2024.1105.1234",
        "dates 2026-01-15, 15.01.2026, 2026-01-15T10:30:00Z and 2024-2025-2026",
        "uuid 550e8400-e29b-41d4-a716-446655440000",
        "uuid 12345678-1234-5678-1234-567812345678",
        "ip 192.168.100.200 and 10.20.30.40",
        "unix ms 1700000000123",
        "sha 4111111111111111-ab",
    ],
)
def test_false_positives_are_left_alone(text: str) -> None:
    assert REDACTOR.redact(text).text == text


def test_counts_by_kind() -> None:
    result = REDACTOR.redact("a@b.io, c@d.io and 4111111111111111")
    assert result.counts == {"EMAIL": 2, "CARD": 1}


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", False)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_iban_checksum() -> None:
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE89370400440532013001")


def test_workspace_rules_run_after_builtins_and_count() -> None:
    r = Redactor([("ticket", r"\bT-\d{4}\b"), ("codename", r"(?i)project\s+falcon")])
    result = r.redact("T-1234 is about Project Falcon, mail x@y.io")
    assert result.text == "[CUSTOM:ticket] is about [CUSTOM:codename], mail [EMAIL]"
    assert result.counts == {"EMAIL": 1, "CUSTOM:ticket": 1, "CUSTOM:codename": 1}


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("bad", "(unclosed"),
        ("bad", "[z-a]"),
        ("empty-match", "a*"),
        ("empty", ""),
        ("", "x"),
        ("has space", "x"),
        ("long", "x" * 2000),
    ],
)
def test_bad_custom_rules_are_rejected(name: str, pattern: str) -> None:
    with pytest.raises(RedactionRuleError):
        Redactor([(name, pattern)])


def _snapshot(rule: policy_pb2.RedactionRule) -> snapshot_pb2.Snapshot:
    w = "workspaces/w1"
    return snapshot_pb2.Snapshot(
        revision=3,
        workspaces=[workspace_pb2.Workspace(name=w)],
        keys=[
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(name=f"{w}/keys/k1"), secret_sha256=hash_secret("s")
            )
        ],
        policies=[
            policy_pb2.Policy(
                name=f"{w}/policies/p",
                target=w,
                prompt_logging=policy_pb2.Policy.PROMPT_LOGGING_FULL,
                redaction_rules=[rule],
            )
        ],
    )


def test_bad_custom_regex_fails_the_config_compile() -> None:
    """ConfigError is what the config client NACKs (keeping the old snapshot)."""
    with pytest.raises(ConfigError, match="policies/p: redaction rule 'bad': bad regex"):
        compile_snapshot(_snapshot(policy_pb2.RedactionRule(name="bad", pattern="(?P<x")))
    cfg = compile_snapshot(_snapshot(policy_pb2.RedactionRule(name="ok", pattern=r"EMP-\d+")))
    redactor = cfg.keys_by_id["k1"].prompt_logging.redactor
    assert redactor is not None
    assert redactor.redact("EMP-7").text == "[CUSTOM:ok]"
