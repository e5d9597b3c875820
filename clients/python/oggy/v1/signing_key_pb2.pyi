import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SigningKey(_message.Message):
    __slots__ = ("name", "algorithm", "public_key_pem", "hmac_secret", "fingerprint", "create_time", "etag")
    class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ALGORITHM_UNSPECIFIED: _ClassVar[SigningKey.Algorithm]
        ALGORITHM_EDDSA: _ClassVar[SigningKey.Algorithm]
        ALGORITHM_ES256: _ClassVar[SigningKey.Algorithm]
        ALGORITHM_HS256: _ClassVar[SigningKey.Algorithm]
    ALGORITHM_UNSPECIFIED: SigningKey.Algorithm
    ALGORITHM_EDDSA: SigningKey.Algorithm
    ALGORITHM_ES256: SigningKey.Algorithm
    ALGORITHM_HS256: SigningKey.Algorithm
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    HMAC_SECRET_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    algorithm: SigningKey.Algorithm
    public_key_pem: str
    hmac_secret: str
    fingerprint: str
    create_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., algorithm: _Optional[_Union[SigningKey.Algorithm, str]] = ..., public_key_pem: _Optional[str] = ..., hmac_secret: _Optional[str] = ..., fingerprint: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...
