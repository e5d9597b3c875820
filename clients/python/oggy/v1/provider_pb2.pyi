import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProviderCredential(_message.Message):
    __slots__ = ("name", "display_name", "kind", "base_url", "models", "api_key", "api_key_hint", "api_key_fingerprint", "create_time", "etag", "api_version", "deployments", "allow_private_network", "timeouts")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ProviderCredential.Kind]
        KIND_OPENAI: _ClassVar[ProviderCredential.Kind]
        KIND_OPENAI_COMPATIBLE: _ClassVar[ProviderCredential.Kind]
        KIND_AZURE_OPENAI: _ClassVar[ProviderCredential.Kind]
        KIND_ANTHROPIC: _ClassVar[ProviderCredential.Kind]
    KIND_UNSPECIFIED: ProviderCredential.Kind
    KIND_OPENAI: ProviderCredential.Kind
    KIND_OPENAI_COMPATIBLE: ProviderCredential.Kind
    KIND_AZURE_OPENAI: ProviderCredential.Kind
    KIND_ANTHROPIC: ProviderCredential.Kind
    class DeploymentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_HINT_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PRIVATE_NETWORK_FIELD_NUMBER: _ClassVar[int]
    TIMEOUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    kind: ProviderCredential.Kind
    base_url: str
    models: _containers.RepeatedScalarFieldContainer[str]
    api_key: str
    api_key_hint: str
    api_key_fingerprint: str
    create_time: _timestamp_pb2.Timestamp
    etag: str
    api_version: str
    deployments: _containers.ScalarMap[str, str]
    allow_private_network: bool
    timeouts: UpstreamTimeouts
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[ProviderCredential.Kind, str]] = ..., base_url: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., api_key: _Optional[str] = ..., api_key_hint: _Optional[str] = ..., api_key_fingerprint: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., api_version: _Optional[str] = ..., deployments: _Optional[_Mapping[str, str]] = ..., allow_private_network: _Optional[bool] = ..., timeouts: _Optional[_Union[UpstreamTimeouts, _Mapping]] = ...) -> None: ...

class UpstreamTimeouts(_message.Message):
    __slots__ = ("connect", "first_byte", "idle")
    CONNECT_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    connect: _duration_pb2.Duration
    first_byte: _duration_pb2.Duration
    idle: _duration_pb2.Duration
    def __init__(self, connect: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., first_byte: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idle: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
