"""Who is calling: bearer JWTs verified against an OIDC issuer's keys, or the embedded key.

In production the services trust an OpenID Connect issuer: ``CRM_AUTH_ISSUER``,
``CRM_AUTH_AUDIENCE`` and its JWKS (``CRM_AUTH_JWKS_URL``, or discovered from
the issuer's ``/.well-known/openid-configuration``). On the embedded default
every process shares one local EC P-256 signing key under ``CRM_DATA_DIR``, and
``crm token`` mints tokens with it. See docs/adr/0007-authentication.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from crm_runtime.settings import RuntimeSettings

ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]


class Unauthenticated(Exception):
    """No usable credentials: missing, malformed, expired, forged or for someone else."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing  # no credentials at all (RFC 6750: no error code then)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a person with roles, or a service with its own identity."""

    subject: str
    roles: frozenset[str]
    team: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def actor(self) -> str:
        """How events name this caller (``user:u1`` or ``service:sagas``)."""
        kind = "service" if "service" in self.roles else "user"
        return f"{kind}:{self.subject}"


# --- the embedded signing key ----------------------------------------------------------------


def signing_key_path(settings: RuntimeSettings) -> Path:
    return settings.auth_signing_key_file or settings.data_dir / "keys" / "token-signing.pem"


def ensure_signing_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load the local signing key, creating it once (safe when processes race to create it)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # a draft name of its own (0600): the pid alone is shared by threads, and is 1 in
        # every container mounting the same data dir
        fd, draft_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        draft = Path(draft_name)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(draft, path)  # fails if another process won the race: use theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return loaded


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public half as a JWK, its ``kid`` the RFC 7638 thumbprint."""
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps(
        {name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    jwk["kid"] = jwt.utils.base64url_encode(digest).decode()
    jwk.update({"use": "sig", "alg": "ES256"})
    return jwk


def mint_token(
    settings: RuntimeSettings,
    *,
    subject: str,
    roles: list[str],
    team: str | None = None,
    lifetime: timedelta = timedelta(hours=1),
    now: float | None = None,
) -> str:
    """A token signed with the embedded key (``crm token``, tests, embedded service calls)."""
    key = ensure_signing_key(signing_key_path(settings))
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime.total_seconds()),
        settings.auth_roles_claim: roles,
    }
    if team:
        claims[settings.auth_team_claim] = team
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]})


# --- verification ----------------------------------------------------------------------------


class JwksKeys:
    """Signing keys of an OIDC issuer, fetched over HTTPS and refreshed on an unknown kid."""

    def __init__(self, settings: RuntimeSettings, *, min_refresh_seconds: float = 30.0) -> None:
        self._settings = settings
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._min_refresh = min_refresh_seconds

    async def key(self, kid: str | None) -> Any:
        if kid not in self._keys and time.monotonic() - self._fetched_at > self._min_refresh:
            await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise Unauthenticated("token signed with a key the issuer does not publish")

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        async with httpx.AsyncClient(timeout=5.0) as http:
            url = self._settings.auth_jwks_url
            if not url:
                discovery = self._settings.auth_issuer.rstrip("/")
                answer = await http.get(f"{discovery}/.well-known/openid-configuration")
                answer.raise_for_status()
                url = str(answer.json()["jwks_uri"])
            answer = await http.get(url)
            answer.raise_for_status()
        keys = jwt.PyJWKSet.from_dict(answer.json()).keys
        self._keys = {str(k.key_id): k.key for k in keys}


class LocalKeys:
    """The embedded default's one key, read from the shared key file."""

    def __init__(self, settings: RuntimeSettings) -> None:
        private = ensure_signing_key(signing_key_path(settings))
        self._kid = public_jwk(private)["kid"]
        self._public = private.public_key()

    async def key(self, kid: str | None) -> Any:
        if kid not in (None, self._kid):
            raise Unauthenticated("token signed with an unknown key")
        return self._public


class TokenVerifier:
    """Turns a bearer token into a Principal, or raises Unauthenticated with the reason."""

    def __init__(self, settings: RuntimeSettings, keys: JwksKeys | LocalKeys | None = None) -> None:
        self._settings = settings
        self._keys = keys or (
            JwksKeys(settings)
            if settings.auth_jwks_url or settings.auth_issuer.startswith("https://")
            else LocalKeys(settings)
        )

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:  # DecodeError, or a malformed header (kid)
            raise Unauthenticated("the bearer token is not a JWT") from error
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"tokens signed with {header.get('alg')!r} are not accepted")
        try:
            key = await self._keys.key(header.get("kid"))
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKSetError) as error:
            # ValueError covers a JWKS or discovery document that is not JSON.
            raise Unauthenticated("the issuer's signing keys could not be fetched") from error
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self._settings.auth_audience,
                issuer=self._settings.auth_issuer,
                leeway=self._settings.auth_leeway_seconds,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("the bearer token has expired") from error
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the bearer token is not valid: {error}") from error
        except (jwt.InvalidKeyError, TypeError) as error:  # e.g. alg RS256 with an EC key
            raise Unauthenticated(
                f"the bearer token is not valid: {header.get('alg')} does not fit the signing key"
            ) from error
        roles = claims.get(self._settings.auth_roles_claim, [])
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated(f"claim {self._settings.auth_roles_claim!r} is not a role list")
        team = claims.get(self._settings.auth_team_claim)
        return Principal(
            subject=str(claims["sub"]),
            roles=frozenset(roles),
            team=str(team) if team else None,
            claims=claims,
        )
