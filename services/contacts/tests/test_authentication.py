"""Every contacts route wants a valid bearer token; health and metrics stay open."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from contacts_testing import ACCESS_LOG, ADA, CUSTOMERS, ClientFactory, problem

from crm_contacts.bootstrap import ContactsService
from crm_contacts.config import ContactsSettings
from crm_runtime.auth import ensure_signing_key, mint_token, public_jwk, signing_key_path

ROUTES = [
    pytest.param("POST", CUSTOMERS, ADA, id="register"),
    pytest.param("GET", f"{CUSTOMERS}/cus_ada", None, id="read"),
    pytest.param("PATCH", f"{CUSTOMERS}/cus_ada", {"name": "Ada King"}, id="change"),
    pytest.param("POST", f"{CUSTOMERS}/cus_ada/erasure", None, id="erase"),
    pytest.param("GET", ACCESS_LOG, None, id="read access log"),
]


def refused(answer: httpx.Response) -> str:
    """The reason of a 401, after checking it is a problem with a bearer challenge."""
    body = problem(answer, 401, "urn:crm:problem:unauthenticated")
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["x-content-type-options"] == "nosniff"
    detail: str = body["detail"]
    return detail


def signed_claims(settings: ContactsSettings, **changes: Any) -> dict[str, Any]:
    """The claims ``mint_token`` would sign for an admin, with ``changes`` (None drops one)."""
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": "root",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "roles": ["admin"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def with_embedded_key(settings: ContactsSettings, claims: dict[str, Any]) -> str:
    key = ensure_signing_key(signing_key_path(settings))
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]})


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_a_request_without_a_token_is_refused_on_every_route(
    client: ClientFactory, method: str, path: str, body: dict[str, Any] | None
) -> None:
    answer = await client().request(method, path, json=body)
    assert "send a bearer token" in refused(answer)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic cm9vdDpyb290", id="basic credentials"),
        pytest.param("Token abc", id="another scheme"),
        pytest.param("Bearer", id="bearer without a token"),
        pytest.param("Bearer    ", id="bearer with a blank token"),
        pytest.param("", id="empty header"),
    ],
)
async def test_a_header_that_is_not_a_bearer_token_is_refused(
    client: ClientFactory, service: ContactsService, authorization: str
) -> None:
    http = client({"Authorization": authorization})
    assert "send a bearer token" in refused(await http.post(CUSTOMERS, json=ADA))
    assert await service.store.head_position() == 0


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("not-a-jwt", "not a JWT", id="garbage"),
        pytest.param("a.b.c", "not a JWT", id="three garbage segments"),
        pytest.param(
            jwt.encode({"sub": "root", "roles": ["admin"]}, key=None, algorithm="none"),
            "'none' are not accepted",
            id="unsigned (alg none)",
        ),
        pytest.param(
            jwt.encode({"sub": "root", "roles": ["admin"]}, "secret-of-32-bytes-at-the-least!"),
            "'HS256' are not accepted",
            id="shared-secret HS256",
        ),
    ],
)
async def test_a_token_that_is_not_a_signed_jwt_is_refused(
    client: ClientFactory, token: str, reason: str
) -> None:
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert reason in refused(answer)


async def test_an_expired_token_is_refused(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    two_hours_ago = time.time() - 7200
    token = mint_token(settings, subject="root", roles=["admin"], now=two_hours_ago)
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "expired" in refused(answer)


async def test_a_token_expired_within_the_leeway_is_still_accepted(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    token = mint_token(
        settings,
        subject="root",
        roles=["admin"],
        lifetime=timedelta(seconds=60),
        now=time.time() - 70,  # expired 10 s ago; 30 s of clock skew are tolerated
    )
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert answer.status_code == 200, answer.text


async def test_a_token_not_valid_yet_is_refused(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    token = mint_token(settings, subject="root", roles=["admin"], now=time.time() + 3600)
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "not valid" in refused(answer)


async def test_a_token_signed_with_another_key_is_refused(
    client: ClientFactory, settings: ContactsSettings, tmp_path: Path
) -> None:
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "another-installation"})
    token = mint_token(elsewhere, subject="root", roles=["admin"])
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "unknown key" in refused(answer)


async def test_a_token_of_another_key_posing_as_ours_fails_its_signature(
    client: ClientFactory, settings: ContactsSettings, tmp_path: Path
) -> None:
    ours = public_jwk(ensure_signing_key(signing_key_path(settings)))["kid"]
    forger = ensure_signing_key(tmp_path / "forger.pem")
    token = jwt.encode(signed_claims(settings), forger, algorithm="ES256", headers={"kid": ours})
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "Signature verification failed" in refused(answer)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({"aud": "another-api"}, "Audience", id="wrong audience"),
        pytest.param({"aud": None}, "aud", id="no audience"),
        pytest.param({"iss": "https://issuer.example"}, "issuer", id="wrong issuer"),
        pytest.param({"iss": None}, "iss", id="no issuer"),
        pytest.param({"sub": None}, "sub", id="no subject"),
        pytest.param({"exp": None}, "exp", id="no expiry"),
        pytest.param({"roles": 7}, "not a role list", id="roles not a list"),
        pytest.param({"roles": ["admin", 7]}, "not a role list", id="a role not a string"),
    ],
)
async def test_a_token_with_the_wrong_claims_is_refused(
    client: ClientFactory, settings: ContactsSettings, changes: dict[str, Any], reason: str
) -> None:
    token = with_embedded_key(settings, signed_claims(settings, **changes))
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert reason in refused(answer)


async def test_a_token_minted_for_another_audience_is_refused(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    other_api = settings.model_copy(update={"auth_audience": "billing"})
    token = mint_token(other_api, subject="root", roles=["admin"])
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "Audience" in refused(answer)


async def test_a_token_from_another_issuer_is_refused(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    other_issuer = settings.model_copy(update={"auth_issuer": "urn:crm:somewhere-else"})
    token = mint_token(other_issuer, subject="root", roles=["admin"])
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert "issuer" in refused(answer)


async def test_roles_may_come_as_a_space_separated_string(
    client: ClientFactory, settings: ContactsSettings
) -> None:
    token = with_embedded_key(settings, signed_claims(settings, roles="marketing auditor"))
    answer = await client({"Authorization": f"Bearer {token}"}).get(ACCESS_LOG)
    assert answer.status_code == 200, answer.text


async def test_the_token_is_checked_before_the_body(
    client: ClientFactory, service: ContactsService
) -> None:
    answer = await client().post(CUSTOMERS, json={"kind": "robot", "nickname": "x"})
    refused(answer)
    assert await service.store.head_position() == 0


async def test_a_valid_token_is_let_through(signed_in: ClientFactory) -> None:
    answer = await signed_in("admin", subject="root", team=None).get(ACCESS_LOG)
    assert answer.status_code == 200, answer.text
    assert "www-authenticate" not in answer.headers


@pytest.mark.parametrize("path", ["/contacts/health", "/metrics"])
async def test_health_and_metrics_need_no_token(client: ClientFactory, path: str) -> None:
    answer = await client().get(path)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("path", ["/contacts/health", "/metrics"])
async def test_health_and_metrics_ignore_a_bad_token(client: ClientFactory, path: str) -> None:
    answer = await client({"Authorization": "Bearer not-a-jwt"}).get(path)
    assert answer.status_code == 200, answer.text


async def test_the_challenge_names_an_error_only_when_a_token_was_sent(
    client: ClientFactory,
) -> None:
    async with client({}) as anonymous:
        without = await anonymous.get(f"{CUSTOMERS}/cus_ada")
    async with client({"Authorization": "Bearer not-a-jwt"}) as forger:
        forged = await forger.get(f"{CUSTOMERS}/cus_ada")
    assert without.headers["www-authenticate"] == 'Bearer realm="crm"'
    assert forged.headers["www-authenticate"] == 'Bearer realm="crm", error="invalid_token"'
