"""Config publishing: etcd watch → versioned snapshots → data plane streams."""

from controlplane.publisher.nodes import NodeStatus
from controlplane.publisher.publisher import ConfigPublisher, SecretCipher
from controlplane.publisher.servicer import ConfigDiscoveryServicer

__all__ = ["ConfigDiscoveryServicer", "ConfigPublisher", "NodeStatus", "SecretCipher"]
