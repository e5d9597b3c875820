import io
import json

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.cli import output
from controlplane.cli.main import describe_rpc_error
from oggy.v1 import key_pb2, usage_pb2, workspace_pb2


def test_render_table_aligns_text_left_and_numbers_right() -> None:
    table = output.render_table(["name", "requests"], [["a", 5], ["longer", 120]])
    assert table.splitlines() == [
        "NAME    REQUESTS",
        "a              5",
        "longer       120",
    ]


def test_render_table_with_no_rows_prints_the_header() -> None:
    assert output.render_table(["id", "name"], []) == "ID  NAME"


def test_emit_json_is_an_array_with_proto_field_names_and_zero_fields() -> None:
    out = io.StringIO()
    event = usage_pb2.UsageEvent(event_id="e1", model="gpt-4o", http_status=200)
    output.emit("json", [event], [], out)
    data = json.loads(out.getvalue())
    assert isinstance(data, list)
    assert data[0]["event_id"] == "e1"
    assert data[0]["http_status"] == 200
    # Fields at their default are present, so every row has the same keys.
    assert data[0]["prompt_tokens"] == "0"
    assert "eventId" not in data[0]


def test_emit_json_of_empty_list() -> None:
    out = io.StringIO()
    output.emit("json", [], [], out)
    assert json.loads(out.getvalue()) == []


def test_emit_one_table_and_json() -> None:
    ws = workspace_pb2.Workspace(name="workspaces/demo", display_name="Demo")
    columns: list[output.Column] = [
        ("name", lambda w: w.name),
        ("display name", lambda w: w.display_name),
    ]
    out = io.StringIO()
    output.emit_one("table", ws, columns, out)
    assert out.getvalue() == "name:          workspaces/demo\ndisplay name:  Demo\n"
    out = io.StringIO()
    output.emit_one("json", ws, columns, out)
    assert json.loads(out.getvalue())["display_name"] == "Demo"


def test_enum_names_in_json() -> None:
    key = key_pb2.GatewayKey(state=key_pb2.GatewayKey.State.STATE_REVOKED)
    assert output.to_dict(key)["state"] == "STATE_REVOKED"


def test_fmt_time() -> None:
    assert output.fmt_time(Timestamp()) == ""
    assert output.fmt_time(Timestamp(seconds=1738324800)) == "2025-01-31T12:00:00Z"


class _RpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class _Ctx:
    def __init__(self) -> None:
        self.client = type("Client", (), {"address": "127.0.0.1:50051"})()


@pytest.mark.parametrize(
    ("details", "hinted"),
    [
        ("failed to connect to all addresses", True),
        ("configuration store (etcd) is unreachable", False),
        ("configuration store error", False),
    ],
)
def test_unavailable_hints_at_the_control_plane_only_when_it_did_not_answer(
    details: str, hinted: bool
) -> None:
    error = _RpcError(grpc.StatusCode.UNAVAILABLE, details)
    text = describe_rpc_error(error, _Ctx())  # type: ignore[arg-type]
    assert text.startswith(f"UNAVAILABLE: {details}")
    assert ("is the control plane running at 127.0.0.1:50051" in text) is hinted
