"""AdminService: AIP-style CRUD and queries over the control plane's resources.

One module per resource under `controlplane.api.resources`, composed here into
the single servicer the server registers. Validation is pure
(controlplane.domain); storage semantics live in `Repository`; every change is
audited in its own transaction (`controlplane.api.audit`). RPCs owned by other
modules (prompt logs, unpriced models, KEK rotation) are forwarded to the
objects passed as `usage_queries` / `kek_rotation` (see resources/delegated.py).
"""

from __future__ import annotations

from controlplane.api.resources.actors import ActorRpcs
from controlplane.api.resources.audit_events import AuditRpcs
from controlplane.api.resources.base import Cipher, ServicerBase
from controlplane.api.resources.budget_status import BudgetStatusRpcs
from controlplane.api.resources.budgets import BudgetRpcs
from controlplane.api.resources.data_planes import DataPlaneRpcs
from controlplane.api.resources.delegated import DelegatedRpcs
from controlplane.api.resources.effective import EffectivePolicyRpcs
from controlplane.api.resources.keys import KeyRpcs
from controlplane.api.resources.limits import LimitRpcs
from controlplane.api.resources.policies import PolicyRpcs
from controlplane.api.resources.prices import PriceRpcs, seed_default_prices
from controlplane.api.resources.providers import ProviderRpcs
from controlplane.api.resources.routes import RouteRpcs
from controlplane.api.resources.signing_keys import SigningKeyRpcs
from controlplane.api.resources.usage import UsageRpcs
from controlplane.api.resources.workspaces import WorkspaceRpcs
from oggy.v1 import admin_service_pb2_grpc


class AdminServicer(
    WorkspaceRpcs,
    KeyRpcs,
    ActorRpcs,
    ProviderRpcs,
    PolicyRpcs,
    SigningKeyRpcs,
    RouteRpcs,
    LimitRpcs,
    BudgetRpcs,
    PriceRpcs,
    AuditRpcs,
    EffectivePolicyRpcs,
    UsageRpcs,
    DataPlaneRpcs,
    BudgetStatusRpcs,
    DelegatedRpcs,
    admin_service_pb2_grpc.AdminServiceServicer,
):
    """Every AdminService RPC. Constructor: see `ServicerBase.__init__`."""


__all__ = ["AdminServicer", "Cipher", "ServicerBase", "seed_default_prices"]
