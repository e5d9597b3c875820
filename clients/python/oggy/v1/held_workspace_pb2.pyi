import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HeldWorkspace(_message.Message):
    __slots__ = ("workspace", "held_revision", "failed_revision", "error", "hold_time")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    HELD_REVISION_FIELD_NUMBER: _ClassVar[int]
    FAILED_REVISION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HOLD_TIME_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    held_revision: int
    failed_revision: int
    error: str
    hold_time: _timestamp_pb2.Timestamp
    def __init__(self, workspace: _Optional[str] = ..., held_revision: _Optional[int] = ..., failed_revision: _Optional[int] = ..., error: _Optional[str] = ..., hold_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
