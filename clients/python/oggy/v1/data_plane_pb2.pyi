import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataPlane(_message.Message):
    __slots__ = ("name", "node_id", "hostname", "version", "peer", "connected", "connect_time", "disconnect_time", "sent_revision", "applied_revision", "last_ack_time", "last_nack_revision", "last_nack_reason", "last_nack_time", "nack_count", "compile_warnings", "usage_backlog", "last_usage_report_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    CONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_TIME_FIELD_NUMBER: _ClassVar[int]
    SENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_REVISION_FIELD_NUMBER: _ClassVar[int]
    LAST_ACK_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_NACK_REVISION_FIELD_NUMBER: _ClassVar[int]
    LAST_NACK_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_NACK_TIME_FIELD_NUMBER: _ClassVar[int]
    NACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPILE_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    USAGE_BACKLOG_FIELD_NUMBER: _ClassVar[int]
    LAST_USAGE_REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    node_id: str
    hostname: str
    version: str
    peer: str
    connected: bool
    connect_time: _timestamp_pb2.Timestamp
    disconnect_time: _timestamp_pb2.Timestamp
    sent_revision: int
    applied_revision: int
    last_ack_time: _timestamp_pb2.Timestamp
    last_nack_revision: int
    last_nack_reason: str
    last_nack_time: _timestamp_pb2.Timestamp
    nack_count: int
    compile_warnings: _containers.RepeatedScalarFieldContainer[str]
    usage_backlog: int
    last_usage_report_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., version: _Optional[str] = ..., peer: _Optional[str] = ..., connected: _Optional[bool] = ..., connect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disconnect_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sent_revision: _Optional[int] = ..., applied_revision: _Optional[int] = ..., last_ack_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_nack_revision: _Optional[int] = ..., last_nack_reason: _Optional[str] = ..., last_nack_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., nack_count: _Optional[int] = ..., compile_warnings: _Optional[_Iterable[str]] = ..., usage_backlog: _Optional[int] = ..., last_usage_report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
