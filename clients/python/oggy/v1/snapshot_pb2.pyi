from oggy.v1 import actor_pb2 as _actor_pb2
from oggy.v1 import budget_pb2 as _budget_pb2
from oggy.v1 import key_pb2 as _key_pb2
from oggy.v1 import limit_pb2 as _limit_pb2
from oggy.v1 import policy_pb2 as _policy_pb2
from oggy.v1 import price_pb2 as _price_pb2
from oggy.v1 import provider_pb2 as _provider_pb2
from oggy.v1 import route_pb2 as _route_pb2
from oggy.v1 import signing_key_pb2 as _signing_key_pb2
from oggy.v1 import workspace_pb2 as _workspace_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyMaterial(_message.Message):
    __slots__ = ("key", "secret_sha256", "previous_secret_sha256")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_SHA256_FIELD_NUMBER: _ClassVar[int]
    key: _key_pb2.GatewayKey
    secret_sha256: bytes
    previous_secret_sha256: bytes
    def __init__(self, key: _Optional[_Union[_key_pb2.GatewayKey, _Mapping]] = ..., secret_sha256: _Optional[bytes] = ..., previous_secret_sha256: _Optional[bytes] = ...) -> None: ...

class SigningKeyMaterial(_message.Message):
    __slots__ = ("signing_key", "hmac_secret")
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    HMAC_SECRET_FIELD_NUMBER: _ClassVar[int]
    signing_key: _signing_key_pb2.SigningKey
    hmac_secret: bytes
    def __init__(self, signing_key: _Optional[_Union[_signing_key_pb2.SigningKey, _Mapping]] = ..., hmac_secret: _Optional[bytes] = ...) -> None: ...

class ProviderMaterial(_message.Message):
    __slots__ = ("provider", "api_key")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    provider: _provider_pb2.ProviderCredential
    api_key: str
    def __init__(self, provider: _Optional[_Union[_provider_pb2.ProviderCredential, _Mapping]] = ..., api_key: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("revision", "workspaces", "keys", "actors", "providers", "policies", "signing_keys", "routes", "prices", "schema_version", "limits", "budgets")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    WORKSPACES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEYS_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    workspaces: _containers.RepeatedCompositeFieldContainer[_workspace_pb2.Workspace]
    keys: _containers.RepeatedCompositeFieldContainer[KeyMaterial]
    actors: _containers.RepeatedCompositeFieldContainer[_actor_pb2.Actor]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderMaterial]
    policies: _containers.RepeatedCompositeFieldContainer[_policy_pb2.Policy]
    signing_keys: _containers.RepeatedCompositeFieldContainer[SigningKeyMaterial]
    routes: _containers.RepeatedCompositeFieldContainer[_route_pb2.Route]
    prices: _containers.RepeatedCompositeFieldContainer[_price_pb2.ModelPrice]
    schema_version: int
    limits: _containers.RepeatedCompositeFieldContainer[_limit_pb2.Limit]
    budgets: _containers.RepeatedCompositeFieldContainer[_budget_pb2.Budget]
    def __init__(self, revision: _Optional[int] = ..., workspaces: _Optional[_Iterable[_Union[_workspace_pb2.Workspace, _Mapping]]] = ..., keys: _Optional[_Iterable[_Union[KeyMaterial, _Mapping]]] = ..., actors: _Optional[_Iterable[_Union[_actor_pb2.Actor, _Mapping]]] = ..., providers: _Optional[_Iterable[_Union[ProviderMaterial, _Mapping]]] = ..., policies: _Optional[_Iterable[_Union[_policy_pb2.Policy, _Mapping]]] = ..., signing_keys: _Optional[_Iterable[_Union[SigningKeyMaterial, _Mapping]]] = ..., routes: _Optional[_Iterable[_Union[_route_pb2.Route, _Mapping]]] = ..., prices: _Optional[_Iterable[_Union[_price_pb2.ModelPrice, _Mapping]]] = ..., schema_version: _Optional[int] = ..., limits: _Optional[_Iterable[_Union[_limit_pb2.Limit, _Mapping]]] = ..., budgets: _Optional[_Iterable[_Union[_budget_pb2.Budget, _Mapping]]] = ...) -> None: ...

class ResourceChange(_message.Message):
    __slots__ = ("name", "workspace", "key", "actor", "provider", "policy", "deleted", "signing_key", "route", "price", "limit", "budget")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    workspace: _workspace_pb2.Workspace
    key: KeyMaterial
    actor: _actor_pb2.Actor
    provider: ProviderMaterial
    policy: _policy_pb2.Policy
    deleted: bool
    signing_key: SigningKeyMaterial
    route: _route_pb2.Route
    price: _price_pb2.ModelPrice
    limit: _limit_pb2.Limit
    budget: _budget_pb2.Budget
    def __init__(self, name: _Optional[str] = ..., workspace: _Optional[_Union[_workspace_pb2.Workspace, _Mapping]] = ..., key: _Optional[_Union[KeyMaterial, _Mapping]] = ..., actor: _Optional[_Union[_actor_pb2.Actor, _Mapping]] = ..., provider: _Optional[_Union[ProviderMaterial, _Mapping]] = ..., policy: _Optional[_Union[_policy_pb2.Policy, _Mapping]] = ..., deleted: _Optional[bool] = ..., signing_key: _Optional[_Union[SigningKeyMaterial, _Mapping]] = ..., route: _Optional[_Union[_route_pb2.Route, _Mapping]] = ..., price: _Optional[_Union[_price_pb2.ModelPrice, _Mapping]] = ..., limit: _Optional[_Union[_limit_pb2.Limit, _Mapping]] = ..., budget: _Optional[_Union[_budget_pb2.Budget, _Mapping]] = ...) -> None: ...

class SnapshotDelta(_message.Message):
    __slots__ = ("base_revision", "revision", "changes", "schema_version")
    BASE_REVISION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    base_revision: int
    revision: int
    changes: _containers.RepeatedCompositeFieldContainer[ResourceChange]
    schema_version: int
    def __init__(self, base_revision: _Optional[int] = ..., revision: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[ResourceChange, _Mapping]]] = ..., schema_version: _Optional[int] = ...) -> None: ...
