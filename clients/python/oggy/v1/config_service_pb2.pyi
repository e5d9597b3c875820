from oggy.v1 import snapshot_pb2 as _snapshot_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Node(_message.Message):
    __slots__ = ("id", "hostname", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    hostname: str
    version: str
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class StreamConfigRequest(_message.Message):
    __slots__ = ("node", "serving_revision", "response_nonce", "error_detail", "compile_warnings")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SERVING_REVISION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_NONCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAIL_FIELD_NUMBER: _ClassVar[int]
    COMPILE_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    node: Node
    serving_revision: int
    response_nonce: str
    error_detail: str
    compile_warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., serving_revision: _Optional[int] = ..., response_nonce: _Optional[str] = ..., error_detail: _Optional[str] = ..., compile_warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamConfigResponse(_message.Message):
    __slots__ = ("nonce", "snapshot", "delta")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    snapshot: _snapshot_pb2.Snapshot
    delta: _snapshot_pb2.SnapshotDelta
    def __init__(self, nonce: _Optional[str] = ..., snapshot: _Optional[_Union[_snapshot_pb2.Snapshot, _Mapping]] = ..., delta: _Optional[_Union[_snapshot_pb2.SnapshotDelta, _Mapping]] = ...) -> None: ...
