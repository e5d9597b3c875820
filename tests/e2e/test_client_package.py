"""The Python client installs on its own (`pip install clients/python`, distribution
`oggy-client`) into a fresh virtualenv, with only its declared dependencies, and every
module of `oggy` imports there: no aiohttp, no control plane, no data plane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"

# Runs inside the new virtualenv, from a directory outside the repository.
CHECK = """
import importlib, importlib.metadata, importlib.util, pkgutil, sys
import oggy
assert oggy.__path__[0].startswith(sys.prefix), oggy.__path__
modules = [m.name for m in pkgutil.walk_packages(oggy.__path__, "oggy.")]
for name in modules:
    importlib.import_module(name)
import oggy.v1.admin_service_pb2_grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from oggy.actor_token import mint_actor_token
from oggy.contract.actor_token import VerificationKey, decode_and_verify
key = Ed25519PrivateKey.generate()
token = mint_actor_token(key, kid="k", workspace="workspaces/w", subject="a", now=1000)
keys = {"k": VerificationKey("k", "EdDSA", public_key=key.public_key())}
assert decode_and_verify(token, keys, "workspaces/w", 1000).subject == "a"
heavy = ("aiohttp", "controlplane", "dataplane", "psycopg")
assert not [n for n in heavy if importlib.util.find_spec(n)]
print(len(modules), sorted(importlib.metadata.requires("oggy-client")))
"""


def test_client_installs_alone_with_light_dependencies(tmp_path: Path) -> None:
    # Build from a copy, so the checkout gets no build/ or egg-info droppings.
    source = tmp_path / "src"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*args: str | Path) -> str:
        done = subprocess.run(
            [str(a) for a in args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", source)
    out = run(venv / "bin" / "python", "-c", CHECK)
    assert "aiohttp" not in out and "psycopg" not in out
    assert "PyJWT" in out and "grpcio" in out and "protobuf" in out
