"""Prompt logging as a policy: what of a prompt is kept, redacted before it leaves the request.

Modes (Policy.prompt_logging), from most to least private:
- OFF: the event carries sizes and counts only (message_count, tool_count,
  requested_max_tokens, request/response bytes, context_tokens) — no
  finish_reason, since it describes the content (`content_filter`), no text;
- METADATA (the default, also for UNSPECIFIED): the whole PromptMetadata;
- FULL: PromptMetadata and a PromptText: the request's and the response's
  text, each bounded to MAX_TEXT_BYTES, run through the Redactor, with
  `expire_time` = end of request + retention and the redaction counts.

Merging the policies that apply to a key (enforced ones; shadow policies
only try out blocking rules, so their prompt settings are validated but not
applied): the most private mode wins (OFF < METADATA < FULL), the shortest
`prompt_retention` wins (unset = 30 days), and the redaction rules are the
union of every applying policy's rules. The Redactor is compiled here, at
config time, once per distinct rule set; a bad rule fails the compile
(ConfigError → NACK).

Nothing unredacted leaves the data plane: PromptText is only ever built by
`prompt_text.build_prompt_text`, from `Redactor.redact` output, before the
event reaches the usage sink (and so the spool).
"""

from __future__ import annotations

import enum
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from oggy.contract.redaction import RedactionRuleError, Redactor, compile_rule
from oggy.v1 import policy_pb2

DEFAULT_RETENTION_S = 30 * 24 * 3600

_Policy = policy_pb2.Policy


class PromptLogging(enum.IntEnum):
    """Ordered from most to least private; values are the proto's."""

    OFF = _Policy.PROMPT_LOGGING_OFF
    METADATA = _Policy.PROMPT_LOGGING_METADATA
    FULL = _Policy.PROMPT_LOGGING_FULL


class PromptLoggingError(ValueError):
    """A policy's prompt settings cannot be used (bad retention, bad redaction rule)."""


@dataclass(frozen=True, slots=True)
class PromptLoggingPolicy:
    mode: PromptLogging = PromptLogging.METADATA
    retention_s: int = DEFAULT_RETENTION_S
    # Compiled once per config; set when mode is FULL.
    redactor: Redactor | None = None


DEFAULT_PROMPT_LOGGING = PromptLoggingPolicy()
RuleSet = tuple[tuple[str, str], ...]


def _mode(p: policy_pb2.Policy) -> PromptLogging | None:
    if p.prompt_logging == _Policy.PROMPT_LOGGING_UNSPECIFIED:
        return None
    try:
        return PromptLogging(p.prompt_logging)
    except ValueError:
        raise PromptLoggingError(
            f"policy {p.name}: unknown prompt_logging value {p.prompt_logging}"
        ) from None


def _retention_s(p: policy_pb2.Policy) -> int | None:
    if not p.HasField("prompt_retention"):
        return None
    d = p.prompt_retention
    if d.seconds < 0 or d.nanos < 0:
        raise PromptLoggingError(f"policy {p.name}: prompt_retention must not be negative")
    seconds = d.seconds + (1 if d.nanos else 0)  # round up: never purge early
    return seconds or None  # a zero duration reads as unset


def _rules(p: policy_pb2.Policy) -> RuleSet:
    return tuple((r.name, r.pattern) for r in p.redaction_rules)


def validate_policy(p: policy_pb2.Policy) -> None:
    """Check one policy's prompt settings on their own; raises PromptLoggingError."""
    _mode(p)
    _retention_s(p)
    for name, pattern in _rules(p):
        try:
            compile_rule(name, pattern)
        except RedactionRuleError as e:
            raise PromptLoggingError(f"policy {p.name}: {e}") from None


@dataclass(frozen=True, slots=True)
class PromptSettings:
    """What a set of policies says about prompts, merged, before anything is compiled.

    `mode` and `retention_s` are None when no applying policy sets them (then
    METADATA and DEFAULT_RETENTION_S apply); `rules` is the union of the rules,
    as distinct (name, pattern) pairs, sorted. The control plane's effective
    summary shows this; `compile_prompt_logging` enforces it.
    """

    mode: PromptLogging | None = None
    retention_s: int | None = None
    rules: RuleSet = ()


def merge_prompt_settings(policies: Sequence[policy_pb2.Policy]) -> PromptSettings:
    """Merge the policies applying to one key (module docstring); shadow policies are
    validated (raises PromptLoggingError) but have no say."""
    mode: PromptLogging | None = None
    retention: int | None = None
    rules: dict[tuple[str, str], None] = {}
    for p in policies:
        if p.shadow:
            validate_policy(p)
            continue
        m = _mode(p)
        if m is not None and (mode is None or m < mode):
            mode = m
        r = _retention_s(p)
        if r is not None and (retention is None or r < retention):
            retention = r
        rules.update(dict.fromkeys(_rules(p)))
    return PromptSettings(mode, retention, tuple(sorted(rules)))


def compile_prompt_logging(
    policies: Sequence[policy_pb2.Policy],
    redactors: MutableMapping[RuleSet, Redactor] | None = None,
) -> PromptLoggingPolicy:
    """Merge the policies applying to one key; `redactors` caches per rule set.

    Rules are checked here only when they are compiled (FULL); check every
    policy with `validate_policy` too, so a bad rule is refused whatever the mode.
    """
    settings = merge_prompt_settings(policies)
    mode = PromptLogging.METADATA if settings.mode is None else settings.mode
    retention = DEFAULT_RETENTION_S if settings.retention_s is None else settings.retention_s
    rule_set = settings.rules
    if not rule_set and mode is PromptLogging.METADATA and retention == DEFAULT_RETENTION_S:
        return DEFAULT_PROMPT_LOGGING
    redactor = None
    if mode is PromptLogging.FULL:
        redactor = redactors.get(rule_set) if redactors is not None else None
        if redactor is None:
            try:
                redactor = Redactor(rule_set)
            except RedactionRuleError as e:
                raise PromptLoggingError(str(e)) from None
            if redactors is not None:
                redactors[rule_set] = redactor
    return PromptLoggingPolicy(mode=mode, retention_s=retention, redactor=redactor)
