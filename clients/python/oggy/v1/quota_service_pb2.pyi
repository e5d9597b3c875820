import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oggy.v1 import config_service_pb2 as _config_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuotaCounter(_message.Message):
    __slots__ = ("rule", "member", "window_start")
    RULE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    rule: str
    member: str
    window_start: int
    def __init__(self, rule: _Optional[str] = ..., member: _Optional[str] = ..., window_start: _Optional[int] = ...) -> None: ...

class QuotaReport(_message.Message):
    __slots__ = ("counter", "used", "held", "wants", "acknowledged")
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    WANTS_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    counter: QuotaCounter
    used: int
    held: int
    wants: int
    acknowledged: int
    def __init__(self, counter: _Optional[_Union[QuotaCounter, _Mapping]] = ..., used: _Optional[int] = ..., held: _Optional[int] = ..., wants: _Optional[int] = ..., acknowledged: _Optional[int] = ...) -> None: ...

class StreamLeasesRequest(_message.Message):
    __slots__ = ("node", "reports", "applied_sequence")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    node: _config_service_pb2.Node
    reports: _containers.RepeatedCompositeFieldContainer[QuotaReport]
    applied_sequence: int
    def __init__(self, node: _Optional[_Union[_config_service_pb2.Node, _Mapping]] = ..., reports: _Optional[_Iterable[_Union[QuotaReport, _Mapping]]] = ..., applied_sequence: _Optional[int] = ...) -> None: ...

class QuotaLease(_message.Message):
    __slots__ = ("counter", "granted", "expire_time", "used_everywhere")
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    USED_EVERYWHERE_FIELD_NUMBER: _ClassVar[int]
    counter: QuotaCounter
    granted: int
    expire_time: _timestamp_pb2.Timestamp
    used_everywhere: int
    def __init__(self, counter: _Optional[_Union[QuotaCounter, _Mapping]] = ..., granted: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., used_everywhere: _Optional[int] = ...) -> None: ...

class StreamLeasesResponse(_message.Message):
    __slots__ = ("leases", "data_plane_count", "leader", "report_interval", "sequence")
    LEASES_FIELD_NUMBER: _ClassVar[int]
    DATA_PLANE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[QuotaLease]
    data_plane_count: int
    leader: str
    report_interval: _duration_pb2.Duration
    sequence: int
    def __init__(self, leases: _Optional[_Iterable[_Union[QuotaLease, _Mapping]]] = ..., data_plane_count: _Optional[int] = ..., leader: _Optional[str] = ..., report_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...
