"""Config publishing: etcd watch → versioned snapshots → data plane streams."""

from controlplane.publisher.holdback import HeldWorkspace
from controlplane.publisher.loader import SecretCipher
from controlplane.publisher.nodes import NodeStatus
from controlplane.publisher.publisher import ConfigPublisher
from controlplane.publisher.servicer import ConfigDiscoveryServicer

__all__ = [
    "ConfigDiscoveryServicer",
    "ConfigPublisher",
    "HeldWorkspace",
    "NodeStatus",
    "SecretCipher",
]
