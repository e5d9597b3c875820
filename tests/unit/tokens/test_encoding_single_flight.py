"""A tokenizer is loaded at most once, however many threads ask for it at the same time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from dataplane.tokens import encodings


def test_concurrent_first_loads_build_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def slow_build(name: str) -> Any:
        built.append(name)
        time.sleep(0.05)  # a real load takes ~0.3 s: let the other threads pile up
        return object()

    monkeypatch.setattr(encodings, "_loaded", {})
    monkeypatch.setattr(encodings, "_build_encoding", slow_build)
    assert encodings.loaded_encoding("o200k_base") is None
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(encodings.load_encoding("o200k_base")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == ["o200k_base"]
    assert len({id(r) for r in results}) == 1
    assert encodings.loaded_encoding_for_model("gpt-4o") is results[0]


def test_warm_loads_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encodings, "_loaded", {})
    monkeypatch.setattr(encodings, "_build_encoding", lambda name: f"enc:{name}")
    encodings.warm_encodings(("cl100k_base",)).join()
    assert encodings.loaded_encoding("cl100k_base") == "enc:cl100k_base"
