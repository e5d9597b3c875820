import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Actor(_message.Message):
    __slots__ = ("name", "display_name", "kind", "teams", "disabled", "create_time", "etag")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Actor.Kind]
        KIND_USER: _ClassVar[Actor.Kind]
        KIND_TEAM: _ClassVar[Actor.Kind]
        KIND_APP: _ClassVar[Actor.Kind]
        KIND_ENVIRONMENT: _ClassVar[Actor.Kind]
    KIND_UNSPECIFIED: Actor.Kind
    KIND_USER: Actor.Kind
    KIND_TEAM: Actor.Kind
    KIND_APP: Actor.Kind
    KIND_ENVIRONMENT: Actor.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    kind: Actor.Kind
    teams: _containers.RepeatedScalarFieldContainer[str]
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[Actor.Kind, str]] = ..., teams: _Optional[_Iterable[str]] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
