"""Bearer-token authentication for every RPC, as a grpc.aio server interceptor.

Admin RPCs need the admin token; config and usage streams need the node token.
Health and reflection stay open so load balancers and grpcurl work. Any other
method is refused (fail closed), so a new service cannot ship unauthenticated.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

import grpc

from controlplane.api.principal import with_principal
from controlplane.domain.audit import token_principal

ADMIN = "admin"
NODE = "node"

SERVICE_ROLES: Mapping[str, str] = {
    "/oggy.v1.AdminService/": ADMIN,
    "/oggy.v1.ConfigDiscoveryService/": NODE,
    "/oggy.v1.UsageService/": NODE,
    "/oggy.v1.QuotaService/": NODE,
}
OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> bytes | None:
    for key, value in metadata or ():
        if key.lower() == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip().encode()
            return None
    return None


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, admin_token: str, node_token: str) -> None:
        if not admin_token or not node_token:
            raise ValueError("admin and node tokens must be non-empty")
        self._tokens = {ADMIN: admin_token.encode(), NODE: node_token.encode()}

    def __repr__(self) -> str:
        return "TokenAuthInterceptor(tokens=***)"

    def role_for(self, method: str) -> str | None:
        """The role a method needs; None when it is open."""
        if method.startswith(OPEN_PREFIXES):
            return None
        for prefix, role in SERVICE_ROLES.items():
            if method.startswith(prefix):
                return role
        return ADMIN  # unknown methods: the strictest role; they are unimplemented anyway

    def allows(self, method: str, metadata: tuple[tuple[str, str | bytes], ...] | None) -> bool:
        role = self.role_for(method)
        if role is None:
            return True
        token = bearer_token(metadata)
        # compare_digest: time does not depend on how much of the token matched.
        return token is not None and hmac.compare_digest(token, self._tokens[role])

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        if self.allows(method, metadata):
            handler = await continuation(handler_call_details)
            token = bearer_token(metadata)
            if handler is not None and token is not None and self.role_for(method) == ADMIN:
                # Audit events name the caller by a fingerprint of its token.
                return with_principal(handler, token_principal(token))
            return handler
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # type: ignore[return-value]
        return _denying(handler, self.role_for(method) or ADMIN)


def _denying(handler: grpc.RpcMethodHandler, role: str) -> grpc.RpcMethodHandler:
    message = f"missing or invalid {role} token (authorization: Bearer <token>)"

    async def deny(_request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
