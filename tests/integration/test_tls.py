"""gRPC over TLS: control plane with a certificate, data plane and CLI trusting its CA."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.cli.main import run as cli_run
from controlplane.server import ControlPlaneServer, create_server
from controlplane.settings import Settings, SettingsError
from dataplane.config.client import ConfigStreamClient
from dataplane.grpc_client import auth_metadata, open_channel
from dataplane.settings import Settings as DataPlaneSettings
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from oggy.v1 import (
    config_service_pb2_grpc,
    provider_pb2,
    snapshot_pb2,
    usage_pb2,
    usage_service_pb2,
    usage_service_pb2_grpc,
)
from oggy.v1 import workspace_pb2 as ws_pb
from tests.support.etcd import etcd_endpoint_fixture, unique_prefix  # noqa: F401

API_KEY = "sk-tls-test-0123456789SECRET"


# --- certificates -------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("oggy-controlplane"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


@dataclass
class Pki:
    ca: Path
    other_ca: Path
    cert: Path
    key: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    d = tmp_path / "pki"
    d.mkdir()
    ca_key, ca = make_ca("oggy test CA")
    _, other = make_ca("someone else's CA")
    cert_pem, key_pem = make_server_cert(ca_key, ca)
    paths = Pki(d / "ca.pem", d / "other-ca.pem", d / "server.pem", d / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.other_ca.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert_pem)
    paths.key.write_bytes(key_pem)
    paths.key.chmod(0o600)
    return paths


@dataclass
class Tls:
    cp: ControlPlaneServer
    port: int
    pki: Pki

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def secure_channel(self, ca: Path | None = None) -> grpc.aio.Channel:
        creds = grpc.ssl_channel_credentials((ca or self.pki.ca).read_bytes())
        return grpc.aio.secure_channel(self.address, creds)

    @property
    def admin_md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.cp.admin_token}"),)


@pytest.fixture
async def tls(etcd_endpoint: str, tmp_path: Path, pki: Pki) -> AsyncIterator[Tls]:
    settings = Settings.from_flags(
        state_dir=tmp_path / "state",
        etcd=etcd_endpoint,
        grpc="127.0.0.1:0",
        etcd_prefix=unique_prefix(),
        tls_cert=pki.cert,
        tls_key=pki.key,
        environ={},
    )
    cp, port = await create_server(settings)
    try:
        yield Tls(cp, port, pki)
    finally:
        await cp.stop(None)


class Holder:
    def __init__(self) -> None:
        self.snapshot: snapshot_pb2.Snapshot | None = None
        self.changed = asyncio.Event()

    def apply(self, cfg: snapshot_pb2.Snapshot) -> None:
        self.snapshot = cfg
        self.changed.set()

    async def wait_for(self, predicate) -> snapshot_pb2.Snapshot:
        while self.snapshot is None or not predicate(self.snapshot):
            self.changed.clear()
            await self.changed.wait()
        return self.snapshot


def dp_settings(t: Tls, tmp_path: Path, **kw) -> DataPlaneSettings:
    return DataPlaneSettings(
        control_plane=t.address,
        node_token=t.cp.node_token,
        node_id="dp-tls",
        spool_dir=tmp_path / "spool",
        **kw,
    )


async def add_provider(t: Tls) -> None:
    async with t.secure_channel() as channel:
        stub = admin_grpc.AdminServiceStub(channel)
        ws = (
            await stub.CreateWorkspace(
                pb.CreateWorkspaceRequest(workspace_id="acme", workspace=ws_pb.Workspace()),
                metadata=t.admin_md,
            )
        ).workspace
        await stub.CreateProviderCredential(
            pb.CreateProviderCredentialRequest(
                parent=ws.name,
                provider_id="openai",
                provider_credential=provider_pb2.ProviderCredential(
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI,
                    base_url="https://api.openai.com/v1",
                    models=["gpt-4o*"],
                    api_key=API_KEY,
                ),
            ),
            metadata=t.admin_md,
        )


# --- tests --------------------------------------------------------------------------


async def test_data_plane_receives_config_over_tls(tls: Tls, tmp_path: Path) -> None:
    await add_provider(tls)
    holder = Holder()
    client = ConfigStreamClient(dp_settings(tls, tmp_path, tls_ca=tls.pki.ca), holder, lambda s: s)
    await client.start()
    try:
        snap = await asyncio.wait_for(holder.wait_for(lambda s: bool(s.providers)), 20)
    finally:
        await client.stop()
    assert [p.api_key for p in snap.providers] == [API_KEY]


async def test_server_name_override(tls: Tls, tmp_path: Path) -> None:
    settings = dp_settings(tls, tmp_path, tls_ca=tls.pki.ca, tls_server_name="localhost")
    holder = Holder()
    client = ConfigStreamClient(settings, holder, lambda s: s)
    await client.start()
    try:
        await asyncio.wait_for(holder.wait_for(lambda s: True), 20)
    finally:
        await client.stop()


async def test_usage_stream_over_tls(tls: Tls, tmp_path: Path) -> None:
    channel = open_channel(dp_settings(tls, tmp_path, tls_ca=tls.pki.ca))
    try:
        stub = usage_service_pb2_grpc.UsageServiceStub(channel)
        call = stub.ReportUsage(metadata=auth_metadata(tls.cp.node_token))
        await call.write(
            usage_service_pb2.ReportUsageRequest(
                batch_id="b1",
                dataplane_id="dp-tls",
                events=[
                    usage_pb2.UsageEvent(
                        event_id="0190a8f0-0000-7000-8000-000000000001",
                        workspace="workspaces/acme",
                        model="gpt-4o",
                    )
                ],
            )
        )
        ack = await asyncio.wait_for(call.read(), 20)
        await call.done_writing()
    finally:
        await channel.close()
    assert ack.batch_id == "b1" and ack.stored


async def test_plaintext_and_untrusted_clients_are_refused(tls: Tls) -> None:
    request = health_pb2.HealthCheckRequest()
    async with tls.secure_channel() as good:
        ok = await health_pb2_grpc.HealthStub(good).Check(request, timeout=10)
        assert ok.status == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(tls.address) as plain:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health_pb2_grpc.HealthStub(plain).Check(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    async with tls.secure_channel(tls.pki.other_ca) as untrusted:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health_pb2_grpc.HealthStub(untrusted).Check(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_data_plane_without_tls_cannot_get_config(tls: Tls, tmp_path: Path) -> None:
    channel = open_channel(dp_settings(tls, tmp_path))  # no --tls-ca: plaintext
    try:
        stub = config_service_pb2_grpc.ConfigDiscoveryServiceStub(channel)
        call = stub.StreamConfig(metadata=auth_metadata(tls.cp.node_token), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await channel.close()


async def test_cli_admin_calls_with_tls_ca(tls: Tls, tmp_path: Path, capsys) -> None:
    env = {"OGGY_ADMIN_TOKEN": tls.cp.admin_token}
    argv = ["workspace", "list", "--admin-address", tls.address, "--state-dir", str(tmp_path)]
    code = await asyncio.to_thread(cli_run, [*argv, "--tls-ca", str(tls.pki.ca)], env)
    assert code == 0
    env_ca = {**env, "OGGY_TLS_CA": str(tls.pki.ca)}
    assert await asyncio.to_thread(cli_run, argv, env_ca) == 0
    # Without the CA the CLI speaks plaintext to a TLS port: it fails, with an error line.
    plain_code = await asyncio.to_thread(cli_run, argv, env)
    assert plain_code != 0
    assert tls.cp.admin_token not in capsys.readouterr().err


def test_settings_validate_tls_flags(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_flags(state_dir=tmp_path, tls_cert=pki.cert, environ={})
    with pytest.raises(SettingsError, match="no such file"):
        Settings.from_flags(
            state_dir=tmp_path, tls_cert=pki.cert, tls_key=tmp_path / "nope", environ={}
        )
