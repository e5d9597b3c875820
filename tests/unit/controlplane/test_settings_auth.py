"""Settings parsing and the auth interceptor's decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.api.auth import TokenAuthInterceptor, bearer_token
from controlplane.settings import Settings, SettingsError


def test_from_flags(tmp_path: Path) -> None:
    s = Settings.from_flags(
        state_dir=tmp_path,
        etcd="http://127.0.0.1:2379",
        grpc="0.0.0.0:0",
        etcd_prefix="/x",
        environ={"OGGY_ADMIN_TOKEN": "adm-secret", "OGGY_NODE_TOKEN": "node-secret"},
    )
    assert (s.grpc_host, s.grpc_port, s.etcd_prefix) == ("0.0.0.0", 0, "/x/")
    assert s.usage_store_url == f"sqlite:///{tmp_path / 'usage.db'}"
    assert s.admin_token == "adm-secret"
    assert "adm-secret" not in repr(s) and "node-secret" not in repr(s)


@pytest.mark.parametrize(
    "flags",
    [
        {"grpc": "nohost"},
        {"grpc": "h:99999"},
        {"etcd": "https://127.0.0.1:2379"},
        {"etcd_prefix": "oggy/"},
        {"usage_store": "mysql://x"},
    ],
)
def test_bad_flags(tmp_path: Path, flags: dict) -> None:
    with pytest.raises(SettingsError):
        Settings.from_flags(state_dir=tmp_path, environ={}, **flags)


def test_bearer_parsing() -> None:
    assert bearer_token((("authorization", "Bearer abc"),)) == b"abc"
    assert bearer_token((("Authorization", "bearer  abc "),)) == b"abc"
    assert bearer_token((("authorization", "Basic abc"),)) is None
    assert bearer_token((("authorization", "Bearer "),)) is None
    assert bearer_token(()) is None
    assert bearer_token(None) is None


def test_roles() -> None:
    auth = TokenAuthInterceptor("admin-tok", "node-tok")
    admin = (("authorization", "Bearer admin-tok"),)
    node = (("authorization", "Bearer node-tok"),)
    assert auth.allows("/oggy.v1.AdminService/ListWorkspaces", admin)
    assert not auth.allows("/oggy.v1.AdminService/ListWorkspaces", node)
    assert not auth.allows("/oggy.v1.AdminService/ListWorkspaces", None)
    assert auth.allows("/oggy.v1.ConfigDiscoveryService/StreamConfig", node)
    assert not auth.allows("/oggy.v1.ConfigDiscoveryService/StreamConfig", admin)
    assert auth.allows("/oggy.v1.UsageService/ReportUsage", node)
    assert auth.allows("/grpc.health.v1.Health/Check", None)
    assert auth.allows("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None)
    assert not auth.allows("/oggy.v1.NewService/Anything", None)  # fail closed
    assert "admin-tok" not in repr(auth)
    with pytest.raises(ValueError):
        TokenAuthInterceptor("", "x")
