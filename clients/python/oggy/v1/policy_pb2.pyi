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

class Policy(_message.Message):
    __slots__ = ("name", "target", "allowed_models", "denied_models", "allowed_cidrs", "trusted_proxy_cidrs", "max_output_tokens", "require_actor_token", "shadow", "create_time", "update_time", "etag", "allowed_providers", "max_tokens_mode", "prompt_logging", "prompt_retention", "redaction_rules", "actor_claim_overrides", "allow_labels", "replay_protection", "record_labels")
    class MaxTokensMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MAX_TOKENS_MODE_UNSPECIFIED: _ClassVar[Policy.MaxTokensMode]
        MAX_TOKENS_MODE_CAP: _ClassVar[Policy.MaxTokensMode]
        MAX_TOKENS_MODE_REJECT: _ClassVar[Policy.MaxTokensMode]
    MAX_TOKENS_MODE_UNSPECIFIED: Policy.MaxTokensMode
    MAX_TOKENS_MODE_CAP: Policy.MaxTokensMode
    MAX_TOKENS_MODE_REJECT: Policy.MaxTokensMode
    class PromptLogging(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PROMPT_LOGGING_UNSPECIFIED: _ClassVar[Policy.PromptLogging]
        PROMPT_LOGGING_OFF: _ClassVar[Policy.PromptLogging]
        PROMPT_LOGGING_METADATA: _ClassVar[Policy.PromptLogging]
        PROMPT_LOGGING_FULL: _ClassVar[Policy.PromptLogging]
    PROMPT_LOGGING_UNSPECIFIED: Policy.PromptLogging
    PROMPT_LOGGING_OFF: Policy.PromptLogging
    PROMPT_LOGGING_METADATA: Policy.PromptLogging
    PROMPT_LOGGING_FULL: Policy.PromptLogging
    class Grant(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        GRANT_UNSPECIFIED: _ClassVar[Policy.Grant]
        GRANT_ALLOW: _ClassVar[Policy.Grant]
        GRANT_DENY: _ClassVar[Policy.Grant]
    GRANT_UNSPECIFIED: Policy.Grant
    GRANT_ALLOW: Policy.Grant
    GRANT_DENY: Policy.Grant
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    DENIED_MODELS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CIDRS_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_PROXY_CIDRS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ACTOR_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_MODE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_LOGGING_FIELD_NUMBER: _ClassVar[int]
    PROMPT_RETENTION_FIELD_NUMBER: _ClassVar[int]
    REDACTION_RULES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_CLAIM_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LABELS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    RECORD_LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: str
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    denied_models: _containers.RepeatedScalarFieldContainer[str]
    allowed_cidrs: _containers.RepeatedScalarFieldContainer[str]
    trusted_proxy_cidrs: _containers.RepeatedScalarFieldContainer[str]
    max_output_tokens: int
    require_actor_token: bool
    shadow: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    allowed_providers: _containers.RepeatedScalarFieldContainer[str]
    max_tokens_mode: Policy.MaxTokensMode
    prompt_logging: Policy.PromptLogging
    prompt_retention: _duration_pb2.Duration
    redaction_rules: _containers.RepeatedCompositeFieldContainer[RedactionRule]
    actor_claim_overrides: _containers.RepeatedScalarFieldContainer[str]
    allow_labels: bool
    replay_protection: bool
    record_labels: Policy.Grant
    def __init__(self, name: _Optional[str] = ..., target: _Optional[str] = ..., allowed_models: _Optional[_Iterable[str]] = ..., denied_models: _Optional[_Iterable[str]] = ..., allowed_cidrs: _Optional[_Iterable[str]] = ..., trusted_proxy_cidrs: _Optional[_Iterable[str]] = ..., max_output_tokens: _Optional[int] = ..., require_actor_token: _Optional[bool] = ..., shadow: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., allowed_providers: _Optional[_Iterable[str]] = ..., max_tokens_mode: _Optional[_Union[Policy.MaxTokensMode, str]] = ..., prompt_logging: _Optional[_Union[Policy.PromptLogging, str]] = ..., prompt_retention: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., redaction_rules: _Optional[_Iterable[_Union[RedactionRule, _Mapping]]] = ..., actor_claim_overrides: _Optional[_Iterable[str]] = ..., allow_labels: _Optional[bool] = ..., replay_protection: _Optional[bool] = ..., record_labels: _Optional[_Union[Policy.Grant, str]] = ...) -> None: ...

class RedactionRule(_message.Message):
    __slots__ = ("name", "pattern")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    name: str
    pattern: str
    def __init__(self, name: _Optional[str] = ..., pattern: _Optional[str] = ...) -> None: ...
