"""Bearer tokens: minted with the embedded key or an OIDC issuer's, verified or refused with why."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crm_runtime.auth import (
    JwksKeys,
    LocalKeys,
    Principal,
    TokenVerifier,
    Unauthenticated,
    ensure_signing_key,
    mint_token,
    public_jwk,
    signing_key_path,
)
from crm_runtime.settings import RuntimeSettings
from tests.support import free_port

ISSUER = "https://issuer.example"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def embedded(tmp_path: Path, **overrides: Any) -> RuntimeSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "auth_issuer": "urn:crm:embedded",
        "auth_audience": "crm",
        "auth_jwks_url": None,
        "auth_signing_key_file": None,
        "auth_leeway_seconds": 30,
    }
    return RuntimeSettings(**(values | overrides))


def claims(issuer: str = "urn:crm:embedded", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": issuer, "aud": "crm", "sub": "u1", "iat": now, "nbf": now, "exp": now + 600}
    return base | {"roles": ["sales_rep"]} | overrides


def signed(key: ec.EllipticCurvePrivateKey, body: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(
        body, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]} | headers
    )


# --- round trip ------------------------------------------------------------------------------


async def test_a_minted_token_verifies_to_its_principal(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    token = mint_token(settings, subject="u1", roles=["sales_rep", "marketing"], team="north")

    principal = await TokenVerifier(settings).verify(token)

    assert principal == Principal("u1", frozenset({"sales_rep", "marketing"}), "north")
    assert principal.actor == "user:u1"
    assert principal.claims["iss"] == "urn:crm:embedded"


async def test_a_service_token_names_a_service_actor(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    token = mint_token(settings, subject="x", roles=["service"])

    principal = await TokenVerifier(settings).verify(token)

    assert principal.actor == "service:x"
    assert principal.team is None


async def test_roles_given_as_a_space_separated_string_are_accepted(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))

    principal = await TokenVerifier(settings).verify(signed(key, claims(roles="sales_rep  admin")))

    assert principal.roles == {"sales_rep", "admin"}


async def test_a_token_without_kid_is_checked_against_the_local_key(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))
    token = jwt.encode(claims(), key, algorithm="ES256")

    assert (await TokenVerifier(settings).verify(token)).subject == "u1"


# --- the embedded signing key ----------------------------------------------------------------


def test_the_signing_key_is_created_once_readable_only_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token-signing.pem"

    first = ensure_signing_key(path)
    created = path.stat()
    second = ensure_signing_key(path)

    assert stat.S_IMODE(created.st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (created.st_ino, created.st_mtime_ns)
    assert second.private_numbers() == first.private_numbers()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize("round_", range(5))
def test_racing_creators_end_with_one_key_they_all_load(tmp_path: Path, round_: int) -> None:
    path = tmp_path / "keys" / "token-signing.pem"
    start = threading.Barrier(8)
    loaded: list[ec.EllipticCurvePrivateKey] = []
    failures: list[BaseException] = []

    def create() -> None:
        start.wait(timeout=5)
        try:
            loaded.append(ensure_signing_key(path))
        except BaseException as error:  # a lost race must not surface to the caller
            failures.append(error)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert failures == []
    assert len({key.private_numbers().private_value for key in loaded}) == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    on_disk = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(on_disk, ec.EllipticCurvePrivateKey)
    assert on_disk.private_numbers() == loaded[0].private_numbers()


def test_the_kid_is_the_rfc7638_thumbprint() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()

    def coordinate(value: int) -> str:
        return b64url(value.to_bytes(32, "big"))

    members = {"crv": "P-256", "kty": "EC", "x": coordinate(numbers.x), "y": coordinate(numbers.y)}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()

    jwk = public_jwk(key)

    assert jwk["kid"] == b64url(hashlib.sha256(canonical).digest())
    assert "=" not in jwk["kid"]
    assert (jwk["x"], jwk["y"], jwk["alg"], jwk["use"]) == (
        members["x"],
        members["y"],
        "ES256",
        "sig",
    )
    assert "d" not in jwk


# --- refusals --------------------------------------------------------------------------------


async def refusal(settings: RuntimeSettings, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        await TokenVerifier(settings).verify(token)
    return str(refused.value)


async def test_an_expired_token_is_refused(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    token = mint_token(settings, subject="u1", roles=[], now=time.time() - 7200)

    assert "expired" in await refusal(settings, token)


async def test_a_token_used_within_the_leeway_after_expiry_is_accepted(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    lifetime = timedelta(minutes=10)
    token = mint_token(settings, subject="u1", roles=[], lifetime=lifetime, now=time.time() - 610)

    assert (await TokenVerifier(settings).verify(token)).subject == "u1"


async def test_a_token_not_yet_valid_is_refused(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))
    later = int(time.time()) + 3600

    message = await refusal(settings, signed(key, claims(nbf=later, exp=later + 600)))

    assert "not yet valid" in message


@pytest.mark.parametrize(
    ("minted_with", "why"),
    [
        ({"auth_audience": "billing"}, "audience"),
        ({"auth_issuer": "urn:someone:else"}, "issuer"),
    ],
)
async def test_a_token_for_someone_else_is_refused(
    tmp_path: Path, minted_with: dict[str, str], why: str
) -> None:
    settings = embedded(tmp_path)
    token = mint_token(embedded(tmp_path, **minted_with), subject="u1", roles=[])

    assert why in (await refusal(settings, token)).lower()


async def test_a_token_from_another_signing_key_is_refused(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    stranger = embedded(tmp_path, auth_signing_key_file=tmp_path / "elsewhere" / "other.pem")

    message = await refusal(settings, mint_token(stranger, subject="u1", roles=["admin"]))

    assert "unknown key" in message


async def test_a_forged_token_claiming_the_local_kid_is_refused(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    genuine = ensure_signing_key(signing_key_path(settings))
    forger = ec.generate_private_key(ec.SECP256R1())

    message = await refusal(settings, signed(forger, claims(), kid=public_jwk(genuine)["kid"]))

    assert "signature" in message.lower()


async def test_an_unsigned_token_is_refused(tmp_path: Path) -> None:
    settings = embedded(tmp_path)

    message = await refusal(settings, jwt.encode(claims(), None, algorithm="none"))

    assert "'none' are not accepted" in message


async def test_hs256_signed_with_the_public_key_is_refused(tmp_path: Path) -> None:
    """Algorithm confusion: the public key must never serve as an HMAC secret."""
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': public_jwk(key)['kid']})}"
    signing_input += f".{segment(claims(roles=['admin']))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    message = await refusal(settings, f"{signing_input}.{b64url(mac)}")

    assert "'HS256' are not accepted" in message


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA"])
async def test_an_algorithm_that_does_not_fit_the_key_is_refused(tmp_path: Path, alg: str) -> None:
    """Accepted algorithms, but not for an EC key: a refusal, not a crash (HTTP 500)."""
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))
    header = {"alg": alg, "typ": "JWT", "kid": public_jwk(key)["kid"]}
    token = f"{segment(header)}.{segment(claims())}.{b64url(b'not a signature')}"

    assert "not valid" in await refusal(settings, token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hello",
        "a.b.c",
        f"{segment({'alg': 'ES256'})}",
        f"{b64url(b'[1, 2]')}.{segment({'sub': 'u1'})}.c2ln",
        f"{segment({'alg': 'ES256', 'kid': 7})}.{segment({'sub': 'u1'})}.c2ln",
    ],
    ids=["empty", "one-word", "garbage-segments", "header-only", "header-not-object", "int-kid"],
)
async def test_something_that_is_not_a_jwt_is_refused(tmp_path: Path, token: str) -> None:
    assert "not a JWT" in await refusal(embedded(tmp_path), token)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({k: v for k, v in claims().items() if k != "sub"}, '"sub"'),
        ({k: v for k, v in claims().items() if k != "exp"}, '"exp"'),
        (claims(roles={"admin": True}), "'roles' is not a role list"),
        (claims(roles=["admin", 7]), "'roles' is not a role list"),
    ],
    ids=["missing-sub", "missing-exp", "roles-object", "roles-not-strings"],
)
async def test_a_token_with_unusable_claims_is_refused(
    tmp_path: Path, body: dict[str, Any], why: str
) -> None:
    settings = embedded(tmp_path)
    key = ensure_signing_key(signing_key_path(settings))

    assert why in await refusal(settings, signed(key, body))


# --- an OIDC issuer's published keys ---------------------------------------------------------


class Issuer:
    """A tiny OIDC issuer on 127.0.0.1: discovery document and JWKS, both swappable."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.hits.append(self.path)
                documents = {
                    "/.well-known/openid-configuration": {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                    },
                    "/jwks": issuer.jwks,
                }
                found = self.path in documents
                status = issuer.status if found else 404
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, *keys: ec.EllipticCurvePrivateKey) -> None:
        self.jwks = {"keys": [public_jwk(key) for key in keys]}


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()
    running.thread.join(timeout=5)


@pytest.fixture
def key_a() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def key_b() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def oidc(tmp_path: Path, issuer: Issuer, **overrides: Any) -> RuntimeSettings:
    values = {"auth_issuer": ISSUER, "auth_jwks_url": f"{issuer.url}/jwks"} | overrides
    return embedded(tmp_path, **values)


async def test_the_verifier_trusts_the_jwks_when_one_is_configured(
    tmp_path: Path, issuer: Issuer, key_a: ec.EllipticCurvePrivateKey
) -> None:
    issuer.publish(key_a)
    settings = oidc(tmp_path, issuer)

    principal = await TokenVerifier(settings).verify(signed(key_a, claims(ISSUER, team="west")))

    assert (principal.subject, principal.team) == ("u1", "west")
    assert issuer.hits == ["/jwks"]
    assert not (tmp_path / "keys").exists()  # the embedded key plays no part


async def test_a_rotated_key_is_fetched_on_its_unknown_kid(
    tmp_path: Path,
    issuer: Issuer,
    key_a: ec.EllipticCurvePrivateKey,
    key_b: ec.EllipticCurvePrivateKey,
) -> None:
    settings = oidc(tmp_path, issuer)
    verifier = TokenVerifier(settings, keys=JwksKeys(settings, min_refresh_seconds=0))
    issuer.publish(key_a)
    assert (await verifier.verify(signed(key_a, claims(ISSUER)))).subject == "u1"

    issuer.publish(key_b)
    rotated = await verifier.verify(signed(key_b, claims(ISSUER, sub="u2")))

    assert rotated.subject == "u2"
    assert issuer.hits == ["/jwks", "/jwks"]


async def test_unknown_kids_do_not_refetch_within_the_refresh_interval(
    tmp_path: Path,
    issuer: Issuer,
    key_a: ec.EllipticCurvePrivateKey,
    key_b: ec.EllipticCurvePrivateKey,
) -> None:
    settings = oidc(tmp_path, issuer)
    verifier = TokenVerifier(settings, keys=JwksKeys(settings, min_refresh_seconds=60))
    issuer.publish(key_a)
    await verifier.verify(signed(key_a, claims(ISSUER)))
    issuer.publish(key_b)

    with pytest.raises(Unauthenticated, match="does not publish"):
        await verifier.verify(signed(key_b, claims(ISSUER)))
    assert issuer.hits == ["/jwks"]


async def test_a_kid_the_issuer_never_published_is_refused(
    tmp_path: Path,
    issuer: Issuer,
    key_a: ec.EllipticCurvePrivateKey,
    key_b: ec.EllipticCurvePrivateKey,
) -> None:
    issuer.publish(key_a)
    settings = oidc(tmp_path, issuer)
    verifier = TokenVerifier(settings, keys=JwksKeys(settings, min_refresh_seconds=0))

    with pytest.raises(Unauthenticated, match="issuer does not publish"):
        await verifier.verify(signed(key_b, claims(ISSUER)))


async def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(
    tmp_path: Path,
    issuer: Issuer,
    key_a: ec.EllipticCurvePrivateKey,
    key_b: ec.EllipticCurvePrivateKey,
) -> None:
    issuer.publish(key_a)
    settings = oidc(tmp_path, issuer)
    forged = signed(key_b, claims(ISSUER), kid=public_jwk(key_a)["kid"])

    with pytest.raises(Unauthenticated, match=r"(?i)signature"):
        await TokenVerifier(settings).verify(forged)


async def test_an_issuer_answering_with_an_error_is_reported(
    tmp_path: Path, issuer: Issuer, key_a: ec.EllipticCurvePrivateKey
) -> None:
    issuer.publish(key_a)
    issuer.status = 503
    settings = oidc(tmp_path, issuer)

    with pytest.raises(Unauthenticated, match="could not be fetched"):
        await TokenVerifier(settings).verify(signed(key_a, claims(ISSUER)))


async def test_an_unreachable_jwks_endpoint_is_reported(
    tmp_path: Path, key_a: ec.EllipticCurvePrivateKey
) -> None:
    settings = embedded(
        tmp_path, auth_issuer=ISSUER, auth_jwks_url=f"http://127.0.0.1:{free_port()}/jwks"
    )

    with pytest.raises(Unauthenticated, match="could not be fetched"):
        await TokenVerifier(settings).verify(signed(key_a, claims(ISSUER)))


async def test_the_jwks_is_discovered_from_the_issuer(
    tmp_path: Path, issuer: Issuer, key_a: ec.EllipticCurvePrivateKey
) -> None:
    issuer.publish(key_a)
    settings = embedded(tmp_path, auth_issuer=issuer.url)
    verifier = TokenVerifier(settings, keys=JwksKeys(settings))

    principal = await verifier.verify(signed(key_a, claims(issuer.url)))

    assert principal.subject == "u1"
    assert issuer.hits == ["/.well-known/openid-configuration", "/jwks"]


def test_an_embedded_issuer_uses_the_local_key(tmp_path: Path) -> None:
    verifier = TokenVerifier(embedded(tmp_path))

    assert isinstance(verifier._keys, LocalKeys)
