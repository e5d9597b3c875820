import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageGroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_GROUP_BY_UNSPECIFIED: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_ACTOR: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_KEY: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_MODEL: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_DAY: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_PROVIDER: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_TEAM: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_APP: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_WORKFLOW: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_ENVIRONMENT: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_ERROR_TYPE: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_ENDPOINT: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_POLICY_REASON: _ClassVar[UsageGroupBy]
USAGE_GROUP_BY_UNSPECIFIED: UsageGroupBy
USAGE_GROUP_BY_ACTOR: UsageGroupBy
USAGE_GROUP_BY_KEY: UsageGroupBy
USAGE_GROUP_BY_MODEL: UsageGroupBy
USAGE_GROUP_BY_DAY: UsageGroupBy
USAGE_GROUP_BY_PROVIDER: UsageGroupBy
USAGE_GROUP_BY_TEAM: UsageGroupBy
USAGE_GROUP_BY_APP: UsageGroupBy
USAGE_GROUP_BY_WORKFLOW: UsageGroupBy
USAGE_GROUP_BY_ENVIRONMENT: UsageGroupBy
USAGE_GROUP_BY_ERROR_TYPE: UsageGroupBy
USAGE_GROUP_BY_ENDPOINT: UsageGroupBy
USAGE_GROUP_BY_POLICY_REASON: UsageGroupBy

class UsageEvent(_message.Message):
    __slots__ = ("event_id", "workspace", "key", "actor", "provider", "model", "endpoint", "stream", "http_status", "error_type", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "token_source", "start_time", "latency_ms", "time_to_first_token_ms", "dataplane_id", "client_ip", "request_id", "upstream_request_id", "cache_creation_tokens", "cost_micro_usd", "price_catalog_version", "team", "app", "environment", "workflow", "labels", "policy_reason", "shadow_reason", "attempts", "prompt", "prompt_text", "requested_model", "anomalies")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    DATAPLANE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    PRICE_CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    POLICY_REASON_FIELD_NUMBER: _ClassVar[int]
    SHADOW_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEXT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MODEL_FIELD_NUMBER: _ClassVar[int]
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    workspace: str
    key: str
    actor: str
    provider: str
    model: str
    endpoint: str
    stream: bool
    http_status: int
    error_type: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    token_source: str
    start_time: _timestamp_pb2.Timestamp
    latency_ms: float
    time_to_first_token_ms: float
    dataplane_id: str
    client_ip: str
    request_id: str
    upstream_request_id: str
    cache_creation_tokens: int
    cost_micro_usd: int
    price_catalog_version: str
    team: str
    app: str
    environment: str
    workflow: str
    labels: _containers.ScalarMap[str, str]
    policy_reason: str
    shadow_reason: str
    attempts: _containers.RepeatedCompositeFieldContainer[UpstreamAttempt]
    prompt: PromptMetadata
    prompt_text: PromptText
    requested_model: str
    anomalies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_id: _Optional[str] = ..., workspace: _Optional[str] = ..., key: _Optional[str] = ..., actor: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., endpoint: _Optional[str] = ..., stream: _Optional[bool] = ..., http_status: _Optional[int] = ..., error_type: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., token_source: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[float] = ..., time_to_first_token_ms: _Optional[float] = ..., dataplane_id: _Optional[str] = ..., client_ip: _Optional[str] = ..., request_id: _Optional[str] = ..., upstream_request_id: _Optional[str] = ..., cache_creation_tokens: _Optional[int] = ..., cost_micro_usd: _Optional[int] = ..., price_catalog_version: _Optional[str] = ..., team: _Optional[str] = ..., app: _Optional[str] = ..., environment: _Optional[str] = ..., workflow: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., policy_reason: _Optional[str] = ..., shadow_reason: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[UpstreamAttempt, _Mapping]]] = ..., prompt: _Optional[_Union[PromptMetadata, _Mapping]] = ..., prompt_text: _Optional[_Union[PromptText, _Mapping]] = ..., requested_model: _Optional[str] = ..., anomalies: _Optional[_Iterable[str]] = ...) -> None: ...

class UpstreamAttempt(_message.Message):
    __slots__ = ("provider", "model", "http_status", "error_type", "latency_ms")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    http_status: int
    error_type: str
    latency_ms: float
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., http_status: _Optional[int] = ..., error_type: _Optional[str] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class PromptMetadata(_message.Message):
    __slots__ = ("message_count", "context_tokens", "requested_max_tokens", "tool_count", "request_bytes", "response_bytes", "finish_reason")
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOOL_COUNT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    message_count: int
    context_tokens: int
    requested_max_tokens: int
    tool_count: int
    request_bytes: int
    response_bytes: int
    finish_reason: str
    def __init__(self, message_count: _Optional[int] = ..., context_tokens: _Optional[int] = ..., requested_max_tokens: _Optional[int] = ..., tool_count: _Optional[int] = ..., request_bytes: _Optional[int] = ..., response_bytes: _Optional[int] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class PromptText(_message.Message):
    __slots__ = ("request_text", "response_text", "expire_time", "redactions")
    class RedactionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REQUEST_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TEXT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    request_text: str
    response_text: str
    expire_time: _timestamp_pb2.Timestamp
    redactions: _containers.ScalarMap[str, int]
    def __init__(self, request_text: _Optional[str] = ..., response_text: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redactions: _Optional[_Mapping[str, int]] = ...) -> None: ...

class UsageSummaryRow(_message.Message):
    __slots__ = ("group", "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "cache_creation_tokens", "cost_micro_usd", "unpriced_requests")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    group: _containers.RepeatedScalarFieldContainer[str]
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_creation_tokens: int
    cost_micro_usd: int
    unpriced_requests: int
    def __init__(self, group: _Optional[_Iterable[str]] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cached_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cache_creation_tokens: _Optional[int] = ..., cost_micro_usd: _Optional[int] = ..., unpriced_requests: _Optional[int] = ...) -> None: ...
