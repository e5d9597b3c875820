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
    # Substrings at least one of which every match contains: a text with none
    # of them skips the regex (an `in` scan is far cheaper than a regex scan).
    hints: tuple[str, ...] = ()

    def could_match(self, text: str) -> bool:
        return not self.hints or any(h in text for h in self.hints)

    @property
    def placeholder(self) -> str:
        return f"[{self.kind}]"


# Order matters: longer, more specific shapes first so a private key block is
# replaced whole before its base64 body could look like a token.
BUILTIN_DETECTORS: tuple[Detector, ...] = (
    Detector(
        "PRIVATE_KEY",
        re.compile(
            # An unterminated block (text cut short) is redacted to the end of the text.
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*\Z)"
        ),
        hints=("PRIVATE KEY-----",),
    ),
    Detector(
        "BEARER_TOKEN",
        re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
    ),
    Detector(
        "API_KEY",
        re.compile(
            r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|oggy_[a-z]{1,16}_[a-z0-9]{4,}_[A-Za-z0-9]{20,}"
            r"|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abpr]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35})"
        ),
        hints=("sk-", "oggy_", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza"),
    ),
    Detector(
        "EMAIL",
        re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
        hints=("@",),
    ),
    Detector(
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"),
        iban_valid,
    ),
    Detector(
        "CARD",
        # Not glued to a longer id (`-`/`.` joined to more word characters).
        re.compile(r"(?<![\w.-])[1-9](?:[ -]?\d){11,17}\d\b(?![.-]\w)"),
        luhn_valid,
    ),
    Detector(
        "PHONE",
        re.compile(
            # With a country code or an area code in brackets, two more groups
            # suffice; bare digit groups need three to look like a number.
            # A bare leading group of four digits must start with a trunk 0, so
            # years (`2024-2025-2026`) and build numbers are not phones; a number
            # joined to more digits by `.`/`-` (IP addresses, UUIDs) is not one.
            r"(?<![\w+.-])(?:(?:\+\d{1,3}[ .-]?|\(\d{2,4}\)[ .-]?)\d{2,4}(?:[ .-]\d{3,4}){1,2}"
            r"|(?:0\d{1,3}|[1-9]\d{1,2})[ .-]\d{3,4}[ .-]\d{3,4})\b(?![.-]\d)"
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


class RedactionRuleError(ValueError):
    """A custom rule cannot be used: bad name, bad regex, or one that matches nothing-at-all."""


_RULE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_RULE_PATTERN_LEN = 1024


def compile_rule(name: str, pattern: str) -> Detector:
    """One workspace rule as a Detector; raises RedactionRuleError."""
    if not _RULE_NAME.fullmatch(name):
        raise RedactionRuleError(f"redaction rule name {name!r} must be 1-64 of [A-Za-z0-9_.-]")
    if not pattern:
        raise RedactionRuleError(f"redaction rule {name!r}: pattern is empty")
    if len(pattern) > MAX_RULE_PATTERN_LEN:
        raise RedactionRuleError(
            f"redaction rule {name!r}: pattern is longer than {MAX_RULE_PATTERN_LEN} chars"
        )
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        raise RedactionRuleError(f"redaction rule {name!r}: bad regex: {e}") from None
    if compiled.fullmatch("") is not None:
        # It would "match" between every two characters of every prompt.
        raise RedactionRuleError(f"redaction rule {name!r}: pattern matches the empty string")
    return Detector(f"CUSTOM:{name}", compiled)


class Redactor:
    """Built-in detectors plus a workspace's own named regex rules.

    Build one per distinct rule set when config changes (compiling the rules
    is the expensive part); `redact` is then pure and thread-safe.
    Raises RedactionRuleError for a rule that cannot be used.
    """

    def __init__(self, custom_rules: Iterable[tuple[str, str]] = ()) -> None:
        custom = tuple(compile_rule(name, pattern) for name, pattern in custom_rules)
        self._detectors: Sequence[Detector] = BUILTIN_DETECTORS + custom
        self.rules: tuple[str, ...] = tuple(d.kind for d in custom)

    def redact(self, text: str) -> Redaction:
        counts: dict[str, int] = {}
        for detector in self._detectors:
            if detector.could_match(text):
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
