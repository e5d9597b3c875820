import pytest

from dataplane.core.redaction import Redactor, iban_valid, luhn_valid

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
