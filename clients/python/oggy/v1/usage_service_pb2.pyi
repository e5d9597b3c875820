from oggy.v1 import usage_pb2 as _usage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportUsageRequest(_message.Message):
    __slots__ = ("batch_id", "events", "dataplane_id", "backlog_events")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DATAPLANE_ID_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_EVENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    events: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageEvent]
    dataplane_id: str
    backlog_events: int
    def __init__(self, batch_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[_usage_pb2.UsageEvent, _Mapping]]] = ..., dataplane_id: _Optional[str] = ..., backlog_events: _Optional[int] = ...) -> None: ...

class ReportUsageResponse(_message.Message):
    __slots__ = ("batch_id", "stored", "inserted", "duplicates", "error_detail")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERROR_DETAIL_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored: bool
    inserted: int
    duplicates: int
    error_detail: str
    def __init__(self, batch_id: _Optional[str] = ..., stored: _Optional[bool] = ..., inserted: _Optional[int] = ..., duplicates: _Optional[int] = ..., error_detail: _Optional[str] = ...) -> None: ...
