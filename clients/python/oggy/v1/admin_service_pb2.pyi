import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oggy.v1 import actor_pb2 as _actor_pb2
from oggy.v1 import audit_pb2 as _audit_pb2
from oggy.v1 import budget_pb2 as _budget_pb2
from oggy.v1 import data_plane_pb2 as _data_plane_pb2
from oggy.v1 import held_workspace_pb2 as _held_workspace_pb2
from oggy.v1 import key_pb2 as _key_pb2
from oggy.v1 import limit_pb2 as _limit_pb2
from oggy.v1 import policy_pb2 as _policy_pb2
from oggy.v1 import price_pb2 as _price_pb2
from oggy.v1 import provider_pb2 as _provider_pb2
from oggy.v1 import route_pb2 as _route_pb2
from oggy.v1 import signing_key_pb2 as _signing_key_pb2
from oggy.v1 import usage_pb2 as _usage_pb2
from oggy.v1 import workspace_pb2 as _workspace_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateWorkspaceRequest(_message.Message):
    __slots__ = ("workspace_id", "workspace", "request_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    workspace: _workspace_pb2.Workspace
    request_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., workspace: _Optional[_Union[_workspace_pb2.Workspace, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateWorkspaceResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _workspace_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_workspace_pb2.Workspace, _Mapping]] = ...) -> None: ...

class GetWorkspaceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetWorkspaceResponse(_message.Message):
    __slots__ = ("workspace",)
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    workspace: _workspace_pb2.Workspace
    def __init__(self, workspace: _Optional[_Union[_workspace_pb2.Workspace, _Mapping]] = ...) -> None: ...

class ListWorkspacesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWorkspacesResponse(_message.Message):
    __slots__ = ("workspaces", "next_page_token")
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workspaces: _containers.RepeatedCompositeFieldContainer[_workspace_pb2.Workspace]
    next_page_token: str
    def __init__(self, workspaces: _Optional[_Iterable[_Union[_workspace_pb2.Workspace, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteWorkspaceRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteWorkspaceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateGatewayKeyRequest(_message.Message):
    __slots__ = ("parent", "key_id", "gateway_key", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    key_id: str
    gateway_key: _key_pb2.GatewayKey
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., key_id: _Optional[str] = ..., gateway_key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateGatewayKeyResponse(_message.Message):
    __slots__ = ("gateway_key", "key_text")
    GATEWAY_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_TEXT_FIELD_NUMBER: _ClassVar[int]
    gateway_key: _key_pb2.GatewayKey
    key_text: str
    def __init__(self, gateway_key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ..., key_text: _Optional[str] = ...) -> None: ...

class GetGatewayKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetGatewayKeyResponse(_message.Message):
    __slots__ = ("gateway_key",)
    GATEWAY_KEY_FIELD_NUMBER: _ClassVar[int]
    gateway_key: _key_pb2.GatewayKey
    def __init__(self, gateway_key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ...) -> None: ...

class ListGatewayKeysRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGatewayKeysResponse(_message.Message):
    __slots__ = ("gateway_keys", "next_page_token")
    GATEWAY_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    gateway_keys: _containers.RepeatedCompositeFieldContainer[_key_pb2.GatewayKey]
    next_page_token: str
    def __init__(self, gateway_keys: _Optional[_Iterable[_Union[_key_pb2.GatewayKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteGatewayKeyRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteGatewayKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateActorRequest(_message.Message):
    __slots__ = ("parent", "actor_id", "actor", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    actor_id: str
    actor: _actor_pb2.Actor
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateActorResponse(_message.Message):
    __slots__ = ("actor",)
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    actor: _actor_pb2.Actor
    def __init__(self, actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ...) -> None: ...

class GetActorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetActorResponse(_message.Message):
    __slots__ = ("actor",)
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    actor: _actor_pb2.Actor
    def __init__(self, actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ...) -> None: ...

class ListActorsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListActorsResponse(_message.Message):
    __slots__ = ("actors", "next_page_token")
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    actors: _containers.RepeatedCompositeFieldContainer[_actor_pb2.Actor]
    next_page_token: str
    def __init__(self, actors: _Optional[_Iterable[_Union[_actor_pb2.Actor, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteActorRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteActorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateProviderCredentialRequest(_message.Message):
    __slots__ = ("parent", "provider_id", "provider_credential", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    provider_id: str
    provider_credential: _provider_pb2.ProviderCredential
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., provider_id: _Optional[str] = ..., provider_credential: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateProviderCredentialResponse(_message.Message):
    __slots__ = ("provider_credential",)
    PROVIDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    provider_credential: _provider_pb2.ProviderCredential
    def __init__(self, provider_credential: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ...) -> None: ...

class GetProviderCredentialRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetProviderCredentialResponse(_message.Message):
    __slots__ = ("provider_credential",)
    PROVIDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    provider_credential: _provider_pb2.ProviderCredential
    def __init__(self, provider_credential: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ...) -> None: ...

class ListProviderCredentialsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProviderCredentialsResponse(_message.Message):
    __slots__ = ("provider_credentials", "next_page_token")
    PROVIDER_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    provider_credentials: _containers.RepeatedCompositeFieldContainer[_provider_pb2.ProviderCredential]
    next_page_token: str
    def __init__(self, provider_credentials: _Optional[_Iterable[_Union[_provider_pb2.ProviderCredential, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteProviderCredentialRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteProviderCredentialResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreatePolicyRequest(_message.Message):
    __slots__ = ("parent", "policy_id", "policy", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    POLICY_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    policy_id: str
    policy: _policy_pb2.Policy
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., policy_id: _Optional[str] = ..., policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("policies", "next_page_token")
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[_policy_pb2.Policy]
    next_page_token: str
    def __init__(self, policies: _Optional[_Iterable[_Union[_policy_pb2.Policy, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeletePolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokeGatewayKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeGatewayKeyResponse(_message.Message):
    __slots__ = ("gateway_key",)
    GATEWAY_KEY_FIELD_NUMBER: _ClassVar[int]
    gateway_key: _key_pb2.GatewayKey
    def __init__(self, gateway_key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ...) -> None: ...

class UpdatePolicyRequest(_message.Message):
    __slots__ = ("policy", "update_mask")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePolicyResponse(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ...) -> None: ...

class UsageFilter(_message.Message):
    __slots__ = ("workspace", "key", "actor", "model", "provider", "start_time", "end_time", "errors_only", "team", "app", "workflow", "blocked_only", "policy_reason")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ERRORS_ONLY_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ONLY_FIELD_NUMBER: _ClassVar[int]
    POLICY_REASON_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    key: str
    actor: str
    model: str
    provider: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    errors_only: bool
    team: str
    app: str
    workflow: str
    blocked_only: bool
    policy_reason: str
    def __init__(self, workspace: _Optional[str] = ..., key: _Optional[str] = ..., actor: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., errors_only: _Optional[bool] = ..., team: _Optional[str] = ..., app: _Optional[str] = ..., workflow: _Optional[str] = ..., blocked_only: _Optional[bool] = ..., policy_reason: _Optional[str] = ...) -> None: ...

class ListUsageEventsRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: UsageFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUsageEventsResponse(_message.Message):
    __slots__ = ("usage_events", "next_page_token")
    USAGE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    usage_events: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageEvent]
    next_page_token: str
    def __init__(self, usage_events: _Optional[_Iterable[_Union[_usage_pb2.UsageEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SummarizeUsageRequest(_message.Message):
    __slots__ = ("filter", "group_by")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    filter: UsageFilter
    group_by: _containers.RepeatedScalarFieldContainer[_usage_pb2.UsageGroupBy]
    def __init__(self, filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[_usage_pb2.UsageGroupBy, str]]] = ...) -> None: ...

class SummarizeUsageResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_usage_pb2.UsageSummaryRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[_usage_pb2.UsageSummaryRow, _Mapping]]] = ...) -> None: ...

class CreateSigningKeyRequest(_message.Message):
    __slots__ = ("parent", "signing_key_id", "signing_key", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    signing_key_id: str
    signing_key: _signing_key_pb2.SigningKey
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., signing_key_id: _Optional[str] = ..., signing_key: _Optional[_Union[_signing_key_pb2.SigningKey, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSigningKeyResponse(_message.Message):
    __slots__ = ("signing_key",)
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    signing_key: _signing_key_pb2.SigningKey
    def __init__(self, signing_key: _Optional[_Union[_signing_key_pb2.SigningKey, _Mapping]] = ...) -> None: ...

class GetSigningKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSigningKeyResponse(_message.Message):
    __slots__ = ("signing_key",)
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    signing_key: _signing_key_pb2.SigningKey
    def __init__(self, signing_key: _Optional[_Union[_signing_key_pb2.SigningKey, _Mapping]] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("signing_keys", "next_page_token")
    SIGNING_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    signing_keys: _containers.RepeatedCompositeFieldContainer[_signing_key_pb2.SigningKey]
    next_page_token: str
    def __init__(self, signing_keys: _Optional[_Iterable[_Union[_signing_key_pb2.SigningKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSigningKeyRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteSigningKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRouteRequest(_message.Message):
    __slots__ = ("parent", "route_id", "route", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    route_id: str
    route: _route_pb2.Route
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., route_id: _Optional[str] = ..., route: _Optional[_Union[_route_pb2.Route, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: _route_pb2.Route
    def __init__(self, route: _Optional[_Union[_route_pb2.Route, _Mapping]] = ...) -> None: ...

class GetRouteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: _route_pb2.Route
    def __init__(self, route: _Optional[_Union[_route_pb2.Route, _Mapping]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "next_page_token")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[_route_pb2.Route]
    next_page_token: str
    def __init__(self, routes: _Optional[_Iterable[_Union[_route_pb2.Route, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteRouteRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteRouteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateActorRequest(_message.Message):
    __slots__ = ("actor", "update_mask")
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    actor: _actor_pb2.Actor
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateActorResponse(_message.Message):
    __slots__ = ("actor",)
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    actor: _actor_pb2.Actor
    def __init__(self, actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ...) -> None: ...

class RotateGatewayKeyRequest(_message.Message):
    __slots__ = ("name", "grace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    grace: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., grace: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RotateGatewayKeyResponse(_message.Message):
    __slots__ = ("gateway_key", "key_text")
    GATEWAY_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_TEXT_FIELD_NUMBER: _ClassVar[int]
    gateway_key: _key_pb2.GatewayKey
    key_text: str
    def __init__(self, gateway_key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ..., key_text: _Optional[str] = ...) -> None: ...

class UpdateProviderCredentialRequest(_message.Message):
    __slots__ = ("provider_credential", "update_mask")
    PROVIDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    provider_credential: _provider_pb2.ProviderCredential
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, provider_credential: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateProviderCredentialResponse(_message.Message):
    __slots__ = ("provider_credential",)
    PROVIDER_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    provider_credential: _provider_pb2.ProviderCredential
    def __init__(self, provider_credential: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ...) -> None: ...

class GetEffectivePolicyRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: str
    def __init__(self, target: _Optional[str] = ...) -> None: ...

class GetEffectivePolicyResponse(_message.Message):
    __slots__ = ("policy", "shadow_policy", "sources")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SHADOW_POLICY_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    policy: _policy_pb2.Policy
    shadow_policy: _policy_pb2.Policy
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., shadow_policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., sources: _Optional[_Iterable[str]] = ...) -> None: ...

class SetModelPriceRequest(_message.Message):
    __slots__ = ("model_price", "parent")
    MODEL_PRICE_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    model_price: _price_pb2.ModelPrice
    parent: str
    def __init__(self, model_price: _Optional[_Union[_price_pb2.ModelPrice, _Mapping]] = ..., parent: _Optional[str] = ...) -> None: ...

class SetModelPriceResponse(_message.Message):
    __slots__ = ("model_price", "catalog_version")
    MODEL_PRICE_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_price: _price_pb2.ModelPrice
    catalog_version: str
    def __init__(self, model_price: _Optional[_Union[_price_pb2.ModelPrice, _Mapping]] = ..., catalog_version: _Optional[str] = ...) -> None: ...

class ListModelPricesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModelPricesResponse(_message.Message):
    __slots__ = ("model_prices", "next_page_token", "catalog_version")
    MODEL_PRICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_prices: _containers.RepeatedCompositeFieldContainer[_price_pb2.ModelPrice]
    next_page_token: str
    catalog_version: str
    def __init__(self, model_prices: _Optional[_Iterable[_Union[_price_pb2.ModelPrice, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., catalog_version: _Optional[str] = ...) -> None: ...

class DeleteModelPriceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteModelPriceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListUnpricedModelsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: UsageFilter
    def __init__(self, filter: _Optional[_Union[UsageFilter, _Mapping]] = ...) -> None: ...

class UnpricedModel(_message.Message):
    __slots__ = ("provider", "model", "requests", "total_tokens")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    requests: int
    total_tokens: int
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., requests: _Optional[int] = ..., total_tokens: _Optional[int] = ...) -> None: ...

class ListUnpricedModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[UnpricedModel]
    def __init__(self, models: _Optional[_Iterable[_Union[UnpricedModel, _Mapping]]] = ...) -> None: ...

class EstimateCostRequest(_message.Message):
    __slots__ = ("model", "provider", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens", "workspace")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    workspace: str
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., workspace: _Optional[str] = ...) -> None: ...

class EstimateCostResponse(_message.Message):
    __slots__ = ("cost_micro_usd", "model_price", "catalog_version")
    COST_MICRO_USD_FIELD_NUMBER: _ClassVar[int]
    MODEL_PRICE_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    cost_micro_usd: int
    model_price: _price_pb2.ModelPrice
    catalog_version: str
    def __init__(self, cost_micro_usd: _Optional[int] = ..., model_price: _Optional[_Union[_price_pb2.ModelPrice, _Mapping]] = ..., catalog_version: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("audit_events", "next_page_token")
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_events: _containers.RepeatedCompositeFieldContainer[_audit_pb2.AuditEvent]
    next_page_token: str
    def __init__(self, audit_events: _Optional[_Iterable[_Union[_audit_pb2.AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RotateKeyEncryptionKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateKeyEncryptionKeyResponse(_message.Message):
    __slots__ = ("kek_id", "rewrapped")
    KEK_ID_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    kek_id: str
    rewrapped: int
    def __init__(self, kek_id: _Optional[str] = ..., rewrapped: _Optional[int] = ...) -> None: ...

class PromptLog(_message.Message):
    __slots__ = ("event_id", "workspace", "key", "actor", "model", "time", "text")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    workspace: str
    key: str
    actor: str
    model: str
    time: _timestamp_pb2.Timestamp
    text: _usage_pb2.PromptText
    def __init__(self, event_id: _Optional[str] = ..., workspace: _Optional[str] = ..., key: _Optional[str] = ..., actor: _Optional[str] = ..., model: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[_Union[_usage_pb2.PromptText, _Mapping]] = ...) -> None: ...

class ListPromptLogsRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: UsageFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[UsageFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPromptLogsResponse(_message.Message):
    __slots__ = ("prompt_logs", "next_page_token")
    PROMPT_LOGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prompt_logs: _containers.RepeatedCompositeFieldContainer[PromptLog]
    next_page_token: str
    def __init__(self, prompt_logs: _Optional[_Iterable[_Union[PromptLog, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PurgePromptLogsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PurgePromptLogsResponse(_message.Message):
    __slots__ = ("purged", "purge_time")
    PURGED_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIME_FIELD_NUMBER: _ClassVar[int]
    purged: int
    purge_time: _timestamp_pb2.Timestamp
    def __init__(self, purged: _Optional[int] = ..., purge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListDataPlanesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDataPlanesResponse(_message.Message):
    __slots__ = ("data_planes", "next_page_token", "held_workspaces", "published_revision")
    DATA_PLANES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HELD_WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_REVISION_FIELD_NUMBER: _ClassVar[int]
    data_planes: _containers.RepeatedCompositeFieldContainer[_data_plane_pb2.DataPlane]
    next_page_token: str
    held_workspaces: _containers.RepeatedCompositeFieldContainer[_held_workspace_pb2.HeldWorkspace]
    published_revision: int
    def __init__(self, data_planes: _Optional[_Iterable[_Union[_data_plane_pb2.DataPlane, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., held_workspaces: _Optional[_Iterable[_Union[_held_workspace_pb2.HeldWorkspace, _Mapping]]] = ..., published_revision: _Optional[int] = ...) -> None: ...

class CreateLimitRequest(_message.Message):
    __slots__ = ("parent", "limit_id", "limit", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    limit_id: str
    limit: _limit_pb2.Limit
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., limit_id: _Optional[str] = ..., limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateLimitResponse(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: _limit_pb2.Limit
    def __init__(self, limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ...) -> None: ...

class GetLimitRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetLimitResponse(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: _limit_pb2.Limit
    def __init__(self, limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ...) -> None: ...

class ListLimitsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLimitsResponse(_message.Message):
    __slots__ = ("limits", "next_page_token")
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.RepeatedCompositeFieldContainer[_limit_pb2.Limit]
    next_page_token: str
    def __init__(self, limits: _Optional[_Iterable[_Union[_limit_pb2.Limit, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateLimitRequest(_message.Message):
    __slots__ = ("limit", "update_mask")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    limit: _limit_pb2.Limit
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateLimitResponse(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: _limit_pb2.Limit
    def __init__(self, limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ...) -> None: ...

class DeleteLimitRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteLimitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateBudgetRequest(_message.Message):
    __slots__ = ("parent", "budget_id", "budget", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_ID_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    budget_id: str
    budget: _budget_pb2.Budget
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., budget_id: _Optional[str] = ..., budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: _budget_pb2.Budget
    def __init__(self, budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: _budget_pb2.Budget
    def __init__(self, budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets", "next_page_token")
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[_budget_pb2.Budget]
    next_page_token: str
    def __init__(self, budgets: _Optional[_Iterable[_Union[_budget_pb2.Budget, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateBudgetRequest(_message.Message):
    __slots__ = ("budget", "update_mask")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    budget: _budget_pb2.Budget
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: _budget_pb2.Budget
    def __init__(self, budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ...) -> None: ...

class DeleteBudgetRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteBudgetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBudgetStatusRequest(_message.Message):
    __slots__ = ("name", "member")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ...) -> None: ...

class GetBudgetStatusResponse(_message.Message):
    __slots__ = ("budget", "statuses")
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    budget: _budget_pb2.Budget
    statuses: _containers.RepeatedCompositeFieldContainer[_budget_pb2.BudgetStatus]
    def __init__(self, budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ..., statuses: _Optional[_Iterable[_Union[_budget_pb2.BudgetStatus, _Mapping]]] = ...) -> None: ...

class ListBudgetCrossingsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBudgetCrossingsResponse(_message.Message):
    __slots__ = ("crossings", "next_page_token")
    CROSSINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    crossings: _containers.RepeatedCompositeFieldContainer[_budget_pb2.BudgetCrossing]
    next_page_token: str
    def __init__(self, crossings: _Optional[_Iterable[_Union[_budget_pb2.BudgetCrossing, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
