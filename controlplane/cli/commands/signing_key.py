"""`oggy signing-key add|list|remove`: keys that verify actor tokens (`X-Oggy-Actor` JWTs).

EdDSA and ES256 keys are public keys read from a PEM file; a private key is refused so
it never leaves the machine that signs. An HS256 secret is shared: it comes from a named
environment variable or stdin (no echo), never from a flag, and is never printed.
"""

from __future__ import annotations

from pathlib import Path

from controlplane.cli import names, output
from controlplane.cli.admin_client import list_all
from controlplane.cli.commands.common import print_deleted, read_secret, request_id
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.contract.names import KID_PATTERN
from oggy.v1 import admin_service_pb2, signing_key_pb2

Algorithm = signing_key_pb2.SigningKey.Algorithm
ALGORITHMS = {
    "EdDSA": Algorithm.ALGORITHM_EDDSA,
    "ES256": Algorithm.ALGORITHM_ES256,
    "HS256": Algorithm.ALGORITHM_HS256,
}
COLLECTION = "signingKeys"
# A kid is chosen by whoever mints tokens, so it is wider than other ids (JWT `kid`).
MIN_HMAC_SECRET_BYTES = 32


def algorithm_label(value: int) -> str:
    for label, number in ALGORITHMS.items():
        if number == value:
            return label
    return Algorithm.Name(value).removeprefix("ALGORITHM_")


COLUMNS: list[output.Column] = [
    ("kid", lambda k: names.short_id(k.name)),
    ("algorithm", lambda k: algorithm_label(k.algorithm)),
    ("fingerprint", lambda k: k.fingerprint),
    ("created", lambda k: output.fmt_time(k.create_time)),
]


def kid_name(workspace: str, value: str) -> str:
    """A kid or `workspaces/{w}/signingKeys/{kid}` → the full name."""
    parent = names.workspace_name(workspace)
    text = value.strip()
    prefix = f"{parent}/{COLLECTION}/"
    if "/" in text:
        if not text.startswith(prefix):
            raise CliError(f"{text!r} is not a signing key name in {parent}")
        text = text.removeprefix(prefix)
    if not KID_PATTERN.fullmatch(text) or text in (".", ".."):
        raise CliError(f"invalid kid {value!r}: expected [A-Za-z0-9._-]{{1,64}}")
    return prefix + text


NOUN = "signing-key"
SUMMARY = "add, list and remove actor-token signing keys"


def register(group: CommandGroup) -> None:

    add_p = group.action(
        "add", add, "register a key (public key file, or HS256 secret from --secret-env or stdin)"
    )
    add_p.add_argument("--kid", required=True, help="the JWT header `kid` tokens will carry")
    add_p.add_argument("--alg", choices=list(ALGORITHMS), required=True)
    material = add_p.add_mutually_exclusive_group()
    material.add_argument(
        "--public-key-file", type=Path, metavar="FILE", help="PEM public key (EdDSA, ES256)"
    )
    material.add_argument("--secret-env", metavar="VAR", help="read the HS256 secret from $VAR")

    group.action("list", list_keys, "list signing keys")

    remove_p = group.action("remove", remove, "remove a signing key (its tokens stop working)")
    remove_p.add_argument("kid", metavar="KID")


def read_public_key(path: Path) -> str:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read {path}: {e.__class__.__name__}") from None
    if "PRIVATE KEY" in text:
        raise CliError(
            f"{path} holds a private key: register the public half only "
            f"(`openssl pkey -in {path} -pubout`)"
        )
    if "-----BEGIN PUBLIC KEY-----" not in text:
        raise CliError(f"{path} is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    return text


def build_signing_key(ctx: Context) -> signing_key_pb2.SigningKey:
    args = ctx.args
    key = signing_key_pb2.SigningKey(algorithm=ALGORITHMS[args.alg])
    if args.alg == "HS256":
        if args.public_key_file:
            raise CliError("HS256 takes a shared secret (--secret-env VAR or stdin), not a file")
        secret = read_secret(args.secret_env, ctx.env, what="HS256 secret", flag="--secret-env")
        if len(secret.encode()) < MIN_HMAC_SECRET_BYTES:
            raise CliError(f"the HS256 secret must be at least {MIN_HMAC_SECRET_BYTES} bytes")
        key.hmac_secret = secret
        return key
    if not args.public_key_file:
        raise CliError(f"{args.alg} needs --public-key-file FILE (a PEM public key)")
    key.public_key_pem = read_public_key(args.public_key_file)
    return key


def add(ctx: Context) -> int:
    name = kid_name(ctx.workspace, ctx.args.kid)
    request = admin_service_pb2.CreateSigningKeyRequest(
        parent=ctx.workspace,
        signing_key_id=names.short_id(name),
        signing_key=build_signing_key(ctx),
        request_id=request_id(),
    )
    response = ctx.client.stub.CreateSigningKey(request)
    response.signing_key.ClearField("hmac_secret")  # never shown, even if a server echoed it
    output.emit_one(ctx.format, response.signing_key, COLUMNS)
    return 0


def list_keys(ctx: Context) -> int:
    request = admin_service_pb2.ListSigningKeysRequest(parent=ctx.workspace)
    items = list_all(ctx.client.stub.ListSigningKeys, request, "signing_keys")
    for item in items:
        item.ClearField("hmac_secret")
    output.emit(ctx.format, items, COLUMNS)
    return 0


def remove(ctx: Context) -> int:
    name = kid_name(ctx.workspace, ctx.args.kid)
    ctx.client.stub.DeleteSigningKey(admin_service_pb2.DeleteSigningKeyRequest(name=name))
    print_deleted(ctx, name)
    return 0
