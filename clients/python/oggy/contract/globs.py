"""Model-name globs (`gpt-4o*`, `claude-3-?-sonnet`, `llama[23]*`): validate and compile.

Syntax is fnmatch's `*`, `?` and `[...]`, case-sensitive, matched against the
whole model name. A list of globs compiles to one regex so a check is a single
`fullmatch`, done at config time, never per request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import translate

GLOB_CHARS = frozenset("*?[")
MAX_GLOB_LEN = 256
# Model names in the wild: `gpt-4o`, `meta-llama/Llama-3-8b`, `models/gemini:1.5`, `x@2024`.
_ALLOWED = re.compile(r"[A-Za-z0-9._:/@+*?\[\]!\-]+")


class GlobError(ValueError):
    pass


def is_glob(pattern: str) -> bool:
    return not GLOB_CHARS.isdisjoint(pattern)


def validate_glob(pattern: str) -> None:
    if not pattern:
        raise GlobError("empty model glob")
    if len(pattern) > MAX_GLOB_LEN:
        raise GlobError(f"model glob longer than {MAX_GLOB_LEN} characters")
    if not _ALLOWED.fullmatch(pattern):
        raise GlobError(
            f"model glob {pattern!r} contains characters outside [A-Za-z0-9._:/@+*?[]!-]"
        )
    depth = 0
    for ch in pattern:
        if ch == "[":
            if depth:
                raise GlobError(f"model glob {pattern!r} nests '['")
            depth = 1
        elif ch == "]" and depth:
            depth = 0
    if depth:
        raise GlobError(f"model glob {pattern!r} has an unclosed '['")
    if "[]" in pattern or "[!]" in pattern:
        raise GlobError(f"model glob {pattern!r} has an empty character class")


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of `patterns` (validated), or None for an empty list."""
    parts = []
    for p in patterns:
        validate_glob(p)
        parts.append(translate(p))
    if not parts:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts))
    except re.error as e:  # defensive: validate_glob should have caught it
        raise GlobError(f"model globs do not compile: {e}") from e
