"""Client request ids and W3C trace context: kept when well-formed, dropped otherwise."""

from __future__ import annotations

import pytest

from dataplane.core.trace import client_request_id, trace_context

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("req-123", True),
        ("0190f0e0-0000-7000-8000-000000000001", True),
        ("svc.a:b_c-D", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        (None, False),
        ("has space", False),
        ("semi;colon", False),
        ("new\nline", False),
        ("ünïcode", False),
        ("a/b", False),
    ],
)
def test_client_request_id(value: str | None, kept: bool) -> None:
    assert client_request_id(value) == (value if kept else None)


@pytest.mark.parametrize(
    ("traceparent", "valid"),
    [
        (VALID, True),
        (f"00-{TRACE_ID}-{PARENT_ID}-00", True),
        # A later version is read by its version-00 prefix (what follows starts with `-`).
        (f"01-{TRACE_ID}-{PARENT_ID}-01", True),
        (f"01-{TRACE_ID}-{PARENT_ID}-01-future", True),
        (f"01-{TRACE_ID}-{PARENT_ID}-01future", False),
        (f"00-{TRACE_ID}-{PARENT_ID}-01-extra", False),  # version 00 is exactly 55 chars
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", False),
        (f"00-{'0' * 32}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID}-{'0' * 16}-01", False),
        (f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01", False),
        (f"00-{TRACE_ID}-{PARENT_ID}-1", False),
        (f"00-{TRACE_ID}-{PARENT_ID[:-1]}g-01", False),
        (f"0-{TRACE_ID}-{PARENT_ID}-01", False),
        (f" {VALID}", False),
        ("", False),
    ],
)
def test_traceparent(traceparent: str, valid: bool) -> None:
    expected = (("traceparent", traceparent),) if valid else ()
    assert trace_context({"traceparent": traceparent}) == expected


@pytest.mark.parametrize(
    ("tracestate", "kept"),
    [
        ("congo=t61rcWkgMzE", True),
        ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", True),
        ("tenant@vendor=v, other=x", True),
        ("a=1,,b=2", True),  # empty members are allowed
        ("Upper=1", False),
        ("k=", False),
        ("k=v\x01", False),  # printable ASCII only
        ("k=a b", True),  # inner spaces are part of the value
        ("k=a,b", False),
        ("no-equals", False),
        ("k=v=w", False),
        (",".join(f"k{i}=v" for i in range(33)), False),
        ("k=" + "v" * 600, False),
    ],
)
def test_tracestate_only_when_well_formed(tracestate: str, kept: bool) -> None:
    got = trace_context({"traceparent": VALID, "tracestate": tracestate})
    assert got[0] == ("traceparent", VALID)
    assert (("tracestate", tracestate) in got) is kept


def test_tracestate_alone_is_never_forwarded() -> None:
    assert trace_context({"tracestate": "congo=t61rcWkgMzE"}) == ()
    assert trace_context({"traceparent": "garbage", "tracestate": "congo=x"}) == ()
    assert trace_context({}) == ()
