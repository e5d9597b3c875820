import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oggy.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Limit(_message.Message):
    __slots__ = ("name", "scope", "counted_per", "metric", "capacity", "window", "shadow", "description", "create_time", "update_time", "etag")
    class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METRIC_UNSPECIFIED: _ClassVar[Limit.Metric]
        METRIC_REQUESTS: _ClassVar[Limit.Metric]
        METRIC_TOKENS: _ClassVar[Limit.Metric]
        METRIC_CONCURRENT_REQUESTS: _ClassVar[Limit.Metric]
    METRIC_UNSPECIFIED: Limit.Metric
    METRIC_REQUESTS: Limit.Metric
    METRIC_TOKENS: Limit.Metric
    METRIC_CONCURRENT_REQUESTS: Limit.Metric
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_PER_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    scope: _scope_pb2.Scope
    counted_per: _scope_pb2.CountedPer
    metric: Limit.Metric
    capacity: int
    window: _duration_pb2.Duration
    shadow: bool
    description: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., scope: _Optional[_Union[_scope_pb2.Scope, _Mapping]] = ..., counted_per: _Optional[_Union[_scope_pb2.CountedPer, str]] = ..., metric: _Optional[_Union[Limit.Metric, str]] = ..., capacity: _Optional[int] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., shadow: _Optional[bool] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
