"""Redact sensitive spans from prompt and response text before it is stored.

Each detector finds candidate spans with a regex and, where a checksum exists
(Luhn for payment cards, ISO 7064 mod 97 for IBANs), confirms them, so a
16-digit order id is not mistaken for a card. Every match becomes a typed
placeholder such as `[EMAIL]`, keeping the text readable for debugging while
nothing sensitive reaches disk. Pure: compiled once per config, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

Validator = Callable[[str], bool]


def luhn_valid(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = re.sub(r"\s+", "", candidate).upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


@dataclass(frozen=True, slots=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    validator: Validator | None = None

    @property
    def placeholder(self) -> str:
        return f"[{self.kind}]"


# Order matters: longer, more specific shapes first so a private key block is
# replaced whole before its base64 body could look like a token.
BUILTIN_DETECTORS: tuple[Detector, ...] = (
    Detector(
        "PRIVATE_KEY",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
        ),
    ),
    Detector("BEARER_TOKEN", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}")),
    Detector(
        "API_KEY",
        re.compile(
            r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|oggy_[a-z]{1,16}_[a-z0-9]{4,}_[A-Za-z0-9]{20,}"
            r"|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abpr]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35})"
        ),
    ),
    Detector("EMAIL", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    Detector(
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"),
        iban_valid,
    ),
    Detector("CARD", re.compile(r"\b[1-9](?:[ -]?\d){11,17}\d\b"), luhn_valid),
    Detector(
        "PHONE",
        re.compile(
            # With a country code or an area code in brackets, two more groups
            # suffice; bare digit groups need three to look like a number.
            r"(?<![\w+])(?:(?:\+\d{1,3}[ .-]?|\(\d{2,4}\)[ .-]?)\d{2,4}(?:[ .-]\d{3,4}){1,2}"
            r"|\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4})\b"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


class Redactor:
    """Built-in detectors plus a workspace's own named regex rules."""

    def __init__(self, custom_rules: Iterable[tuple[str, str]] = ()) -> None:
        custom = tuple(
            Detector(f"CUSTOM:{name}", re.compile(pattern)) for name, pattern in custom_rules
        )
        self._detectors: Sequence[Detector] = BUILTIN_DETECTORS + custom

    def redact(self, text: str) -> Redaction:
        counts: dict[str, int] = {}
        for detector in self._detectors:
            text = detector.pattern.sub(self._replacer(detector, counts), text)
        return Redaction(text, counts)

    @staticmethod
    def _replacer(detector: Detector, counts: dict[str, int]) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            if detector.validator is not None and not detector.validator(match.group(0)):
                return match.group(0)
            counts[detector.kind] = counts.get(detector.kind, 0) + 1
            return detector.placeholder

        return replace
