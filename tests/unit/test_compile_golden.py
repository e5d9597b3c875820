"""Golden files for the snapshot compiler (like Envoy Gateway's translator tests).

Each `golden/compile/<case>.textproto` is a Snapshot in protobuf text format;
`<case>.golden.json` is what compiling it gives: the summary of the config
(tests/support/compile_summary.py) or, for an invalid snapshot, the
ConfigError and what a lenient compile still serves. Regenerate after an
intended change with

    OGGY_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_compile_golden.py

and review the diff. Every valid case is also compiled one workspace at a time
(with the catalog prices), which must give that workspace's part of the whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from google.protobuf import text_format
from google.protobuf.message import Message

from oggy.contract.compile import ConfigError, compile_snapshot, compile_snapshot_lenient
from oggy.contract.identity import ReplayCaches
from oggy.contract.names import claimed_workspace
from oggy.v1 import snapshot_pb2
from tests.support.compile_summary import Summary, summarize, summarize_lenient

GOLDEN = Path(__file__).parent / "golden" / "compile"
CASES = sorted(p.stem for p in GOLDEN.glob("*.textproto"))
# `valid_*` cases compile; `invalid_*` ones are refused, each for one reason.
VALID = [c for c in CASES if c.startswith("valid_")]
UPDATE = os.environ.get("OGGY_UPDATE_GOLDEN") == "1"


def load(case: str) -> snapshot_pb2.Snapshot:
    return text_format.Parse((GOLDEN / f"{case}.textproto").read_text(), snapshot_pb2.Snapshot())


def compiled(snapshot: snapshot_pb2.Snapshot) -> Summary:
    try:
        config = compile_snapshot(snapshot, replay_caches=ReplayCaches())
    except ConfigError as e:
        try:
            lenient: object = summarize_lenient(
                compile_snapshot_lenient(snapshot, replay_caches=ReplayCaches())
            )
        except ConfigError:
            lenient = "the whole snapshot is refused"
        return {"error": str(e), "lenient": lenient}
    return summarize(config)


def secrets(snapshot: snapshot_pb2.Snapshot) -> set[str]:
    out = {m.api_key for m in snapshot.providers}
    out |= {m.hmac_secret.decode(errors="replace") for m in snapshot.signing_keys}
    for m in snapshot.keys:
        out |= {m.secret_sha256.hex(), m.secret_sha256.decode(errors="replace")}
    return {s for s in out if len(s) >= 8}


def name_of(resource: Message) -> str:
    for wrapped in ("key", "provider", "signing_key"):  # KeyMaterial, ProviderMaterial, ...
        field = resource.DESCRIPTOR.fields_by_name.get(wrapped)
        if field is not None and field.message_type is not None:
            return getattr(resource, wrapped).name  # type: ignore[no-any-return]
    return resource.name  # type: ignore[attr-defined,no-any-return]


def workspace_alone(snapshot: snapshot_pb2.Snapshot, workspace: str) -> snapshot_pb2.Snapshot:
    """What a control plane validates one workspace's write with: the workspace, its
    resources and the catalog prices."""
    alone = snapshot_pb2.Snapshot(revision=snapshot.revision)
    for field in snapshot.DESCRIPTOR.fields:
        if field.message_type is None:  # `revision`
            continue
        for resource in getattr(snapshot, field.name):
            owner = claimed_workspace(name_of(resource))
            if owner == workspace or (owner is None and field.name == "prices"):
                getattr(alone, field.name).add().CopyFrom(resource)
    return alone


def test_there_are_cases() -> None:
    assert len(VALID) >= 5 and len(CASES) - len(VALID) >= 10


@pytest.mark.parametrize("case", CASES)
def test_compile_golden(case: str) -> None:
    snapshot = load(case)
    got = compiled(snapshot)
    assert ("error" not in got) is (case in VALID), got.get("error")
    text = json.dumps(got, indent=2, sort_keys=True) + "\n"
    for secret in secrets(snapshot):
        for form in (secret, json.dumps(secret)[1:-1]):
            assert form not in text, f"{case}: a secret reached the compiled summary"
    path = GOLDEN / f"{case}.golden.json"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no {path.name}: run with OGGY_UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text()) == got, f"{case}: regenerate with OGGY_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", VALID)
def test_each_workspace_compiles_alone_as_in_the_whole(case: str) -> None:
    snapshot = load(case)
    whole = compile_snapshot(snapshot, replay_caches=ReplayCaches())
    lenient = compile_snapshot_lenient(snapshot, replay_caches=ReplayCaches())
    assert not lenient.errors and summarize(lenient.config) == summarize(whole)
    for workspace in whole.workspaces:
        alone = compile_snapshot(workspace_alone(snapshot, workspace), replay_caches=ReplayCaches())
        assert summarize(alone) == summarize(whole, workspace)
