from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CountedPer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COUNTED_PER_UNSPECIFIED: _ClassVar[CountedPer]
    COUNTED_PER_SCOPE: _ClassVar[CountedPer]
    COUNTED_PER_ACTOR: _ClassVar[CountedPer]
    COUNTED_PER_KEY: _ClassVar[CountedPer]
COUNTED_PER_UNSPECIFIED: CountedPer
COUNTED_PER_SCOPE: CountedPer
COUNTED_PER_ACTOR: CountedPer
COUNTED_PER_KEY: CountedPer

class Scope(_message.Message):
    __slots__ = ("team", "actor", "key", "app", "environment", "workflow", "model", "provider")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    team: str
    actor: str
    key: str
    app: str
    environment: str
    workflow: str
    model: str
    provider: str
    def __init__(self, team: _Optional[str] = ..., actor: _Optional[str] = ..., key: _Optional[str] = ..., app: _Optional[str] = ..., environment: _Optional[str] = ..., workflow: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...
