"""The contracts are what the code says they are: the committed generated client matches
what the protos generate, and the protos pass `buf lint`."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "clients" / "python"
CI_BUF = REPO / ".ci" / "tools" / "node_modules" / ".bin" / "buf"
DEV_BUF = Path("/tmp/bufnpm/node_modules/.bin/buf")

# Lines that record the protoc/grpc version that generated a file, not what it contains.
_VERSION_STAMPS = (
    (re.compile(r"^# Protobuf Python Version: .*$", re.M), "# Protobuf Python Version: X"),
    (re.compile(r"^GRPC_GENERATED_VERSION = .*$", re.M), "GRPC_GENERATED_VERSION = X"),
    (
        re.compile(r"ValidateProtobufRuntimeVersion\(.*?\)", re.S),
        "ValidateProtobufRuntimeVersion(X)",
    ),
)


def _load_generator():
    spec = importlib.util.spec_from_file_location("oggy_generate", REPO / "clients" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalise(text: str) -> str:
    for pattern, replacement in _VERSION_STAMPS:
        text = pattern.sub(replacement, text)
    return text


def _generated_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): normalise(p.read_text(encoding="utf-8"))
        for p in sorted((root / "oggy" / "v1").glob("*.py*"))
        if p.is_file() and p.suffix in (".py", ".pyi") and p.name != "__init__.py"
    }


def test_generated_python_client_matches_protos(tmp_path: Path) -> None:
    _load_generator().generate(tmp_path)
    fresh = _generated_files(tmp_path)
    committed = _generated_files(GENERATED)
    assert fresh, "generate() produced nothing"
    differing = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not differing, (
        f"clients/python/oggy/v1 is stale; run `python clients/generate.py`. Differs: {differing}"
    )


def find_buf() -> str | None:
    """The project's pinned buf first, then one on PATH, then a developer's npm install."""
    if CI_BUF.is_file():
        return str(CI_BUF)
    on_path = shutil.which("buf")
    if on_path:
        return on_path
    return str(DEV_BUF) if DEV_BUF.is_file() else None


def test_buf_lint_passes() -> None:
    buf = find_buf()
    if buf is None:
        pytest.fail("buf not found: run `bash .ci/setup --dev` to install it into .ci/tools")
    result = subprocess.run(
        [buf, "lint"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"buf lint failed:\n{result.stdout}{result.stderr}"


BASELINE = REPO / "tests" / "baseline" / "oggy-v1.binpb"


def test_buf_breaking_against_the_published_baseline() -> None:
    """Wire and JSON compatibility with the last published contract (`tests/baseline`).

    WIRE_JSON, not FILE: deployed clients in other languages talk to the admin API over
    gRPC and Connect JSON, so a removed field must have its number and name reserved,
    while generated code may drop it. Rebuild the baseline when a contract is published:
    `buf build -o tests/baseline/oggy-v1.binpb`.
    """
    buf = find_buf()
    if buf is None:
        pytest.fail("buf not found: run `bash .ci/setup --dev` to install it into .ci/tools")
    result = subprocess.run(
        [buf, "breaking", "--against", str(BASELINE)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"buf breaking failed:\n{result.stdout}{result.stderr}"
