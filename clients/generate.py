"""Regenerate the Python client from proto/ (run from anywhere: `python clients/generate.py`).

grpc_tools bundles protoc, so generation needs no network and no buf plugins;
`buf lint` guards the contracts themselves. The drift test calls `generate()`
into a temp dir and compares it with what is committed.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PYTHON_OUT = ROOT / "clients" / "python"


def proto_files() -> list[Path]:
    return sorted((PROTO_DIR / "oggy" / "v1").glob("*.proto"))


def generate(out_dir: Path = PYTHON_OUT) -> None:
    from grpc_tools import protoc

    include = str(resources.files("grpc_tools") / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_DIR)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PYTHON_OUT)
