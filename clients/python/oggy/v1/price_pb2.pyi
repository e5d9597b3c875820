import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelPrice(_message.Message):
    __slots__ = ("name", "provider", "model", "effective_time", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok", "reasoning_per_mtok", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    INPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    REASONING_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    model: str
    effective_time: _timestamp_pb2.Timestamp
    input_per_mtok: int
    output_per_mtok: int
    cached_input_per_mtok: int
    cache_write_per_mtok: int
    reasoning_per_mtok: int
    etag: str
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input_per_mtok: _Optional[int] = ..., output_per_mtok: _Optional[int] = ..., cached_input_per_mtok: _Optional[int] = ..., cache_write_per_mtok: _Optional[int] = ..., reasoning_per_mtok: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...
