import inspect
import re

import pytest
from tiktoken_ext import openai_public

from dataplane.tokens.encodings import (
    ENCODING_SHA256,
    EncodingUnavailable,
    encoding_name_for_model,
    load_encoding,
    read_verified_bpe,
    verify_bpe,
)


@pytest.mark.parametrize("name", sorted(ENCODING_SHA256))
def test_pinned_hash_is_the_one_tiktoken_publishes(name: str) -> None:
    source = inspect.getsource(getattr(openai_public, name))
    published = re.search(r'expected_hash="([0-9a-f]{64})"', source)
    assert published is not None
    assert ENCODING_SHA256[name] == published.group(1)


@pytest.mark.parametrize("name", sorted(ENCODING_SHA256))
def test_packaged_file_verifies(name: str) -> None:
    assert read_verified_bpe(name)


def test_tampered_file_is_refused() -> None:
    raw = bytearray(read_verified_bpe("cl100k_base"))
    raw[10] ^= 1
    with pytest.raises(EncodingUnavailable, match="failed verification"):
        verify_bpe("cl100k_base", bytes(raw))


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(EncodingUnavailable, match="no pinned hash"):
        read_verified_bpe("p50k_base")


@pytest.mark.parametrize(
    ("text", "name", "tokens"),
    [
        ("hello world", "cl100k_base", [15339, 1917]),
        ("hello world", "o200k_base", [24912, 2375]),
    ],
)
def test_encodes_like_tiktoken(text: str, name: str, tokens: list[int]) -> None:
    assert load_encoding(name).encode(text) == tokens


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("llama-3-70b", "o200k_base"),
    ],
)
def test_model_to_encoding(model: str, name: str) -> None:
    assert encoding_name_for_model(model) == name
