"""The guard around every route: body size, per-caller rate, security headers, strict bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from contacts_testing import ACCESS_LOG, ADA, CUSTOMERS, ClientFactory, problem, register

from crm_contacts.bootstrap import ContactsService

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}
SMALL_BODIES = {"max_body_bytes": 512}
THREE_A_MINUTE = {"rate_limit": "3/minute"}
OVERSIZED = {**ADA, "name": "x" * 600}


def assert_hardened(answer: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (name, answer.status_code)


async def in_chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    """A body streamed without a Content-Length (chunked transfer)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


# --- body size -------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [SMALL_BODIES], indirect=True)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", CUSTOMERS, id="register"),
        pytest.param("PATCH", "{customer}", id="change"),
        pytest.param("POST", "{customer}/erasure", id="erase"),
    ],
)
async def test_a_body_over_the_limit_is_refused(
    signed_in: ClientFactory, service: ContactsService, method: str, path: str
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    customer = await register(admin, "u1", "north")
    head = await service.store.head_position()
    url = path.format(customer=f"{CUSTOMERS}/{customer['id']}")

    answer = await admin.request(method, url, json=OVERSIZED)

    body = problem(answer, 413)
    assert (body["title"], body["detail"]) == (
        "Content too large",
        "request bodies are limited to 512 bytes",
    )
    assert_hardened(answer)
    assert await service.store.head_position() == head


@pytest.mark.parametrize("settings", [SMALL_BODIES], indirect=True)
async def test_a_streamed_body_over_the_limit_is_refused_too(
    signed_in: ClientFactory, service: ContactsService
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    oversized = httpx.Request("POST", "/", json=OVERSIZED).content

    answer = await admin.post(
        CUSTOMERS, content=in_chunks(oversized), headers={"Content-Type": "application/json"}
    )

    assert "content-length" not in answer.request.headers
    assert problem(answer, 413)["title"] == "Content too large"
    assert_hardened(answer)
    assert await service.store.head_position() == 0


@pytest.mark.parametrize("settings", [SMALL_BODIES], indirect=True)
async def test_a_streamed_body_within_the_limit_is_read(signed_in: ClientFactory) -> None:
    admin = signed_in("admin", subject="root", team=None)
    body = httpx.Request("POST", "/", json=ADA).content
    assert len(body) < 512

    answer = await admin.post(
        CUSTOMERS, content=in_chunks(body, 10), headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 201, answer.text


async def test_the_default_limit_leaves_room_for_any_valid_customer(
    signed_in: ClientFactory,
) -> None:
    longest = {**ADA, "name": "x" * 200, "email": f"{'a' * 64}@{'b' * 63}.com"}
    answer = await signed_in("admin", subject="root", team=None).post(CUSTOMERS, json=longest)
    assert answer.status_code == 201, answer.text


# --- rate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [THREE_A_MINUTE], indirect=True)
async def test_the_fourth_request_of_a_caller_in_a_minute_waits(signed_in: ClientFactory) -> None:
    auditor = signed_in("auditor", subject="x1", team=None)
    served = [(await auditor.get(ACCESS_LOG)).status_code for _ in range(3)]

    answer = await auditor.get(ACCESS_LOG)

    assert served == [200, 200, 200]
    body = problem(answer, 429, "urn:crm:problem:rate-limited")
    assert "user:x1" in body["detail"]
    assert 1 <= int(answer.headers["retry-after"]) <= 61
    assert_hardened(answer)


@pytest.mark.parametrize("settings", [THREE_A_MINUTE], indirect=True)
async def test_the_rate_is_counted_per_caller(signed_in: ClientFactory) -> None:
    auditor = signed_in("auditor", subject="x1", team=None)
    for _ in range(4):
        await auditor.get(ACCESS_LOG)
    with_a_new_token = signed_in("auditor", subject="x1", team=None)
    colleague = signed_in("auditor", subject="x2", team=None)

    assert (await with_a_new_token.get(ACCESS_LOG)).status_code == 429  # same caller
    assert (await colleague.get(ACCESS_LOG)).status_code == 200


@pytest.mark.parametrize("settings", [THREE_A_MINUTE], indirect=True)
async def test_callers_without_a_token_share_a_budget_too(client: ClientFactory) -> None:
    anonymous = client()
    refused = [(await anonymous.get(ACCESS_LOG)).status_code for _ in range(3)]

    answer = await anonymous.get(ACCESS_LOG)

    assert refused == [401, 401, 401]
    assert "retry-after" in answer.headers
    problem(answer, 429, "urn:crm:problem:rate-limited")


@pytest.mark.parametrize("settings", [THREE_A_MINUTE], indirect=True)
async def test_health_and_metrics_are_not_rate_limited(client: ClientFactory) -> None:
    answers = [await client().get(path) for path in ["/contacts/health", "/metrics"] * 3]
    assert [a.status_code for a in answers] == [200] * 6


# --- security headers ------------------------------------------------------------------------

Scenario = Callable[[ClientFactory, ClientFactory], Awaitable[httpx.Response]]


async def registered(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("admin").post(CUSTOMERS, json=ADA)


async def read(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    customer = await register(signed_in("admin"))
    return await signed_in("marketing").get(f"{CUSTOMERS}/{customer['id']}")


async def unauthenticated(_: ClientFactory, client: ClientFactory) -> httpx.Response:
    return await client().get(ACCESS_LOG)


async def forbidden(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("marketing").get(ACCESS_LOG)


async def not_found(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("admin").get(f"{CUSTOMERS}/cus_nobody")


async def conflict(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    customer = await register(signed_in("admin"))
    url = f"{CUSTOMERS}/{customer['id']}"
    return await signed_in("admin").patch(url, json={"name": "Ada"}, headers={"If-Match": "1"})


async def gone(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    customer = await register(signed_in("admin"))
    await signed_in("admin").post(f"{CUSTOMERS}/{customer['id']}/erasure")
    return await signed_in("admin").get(f"{CUSTOMERS}/{customer['id']}")


async def too_large(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("admin").post(CUSTOMERS, json=OVERSIZED)


async def invalid(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("admin").post(CUSTOMERS, json={**ADA, "kind": "robot"})


async def rate_limited(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    admin = signed_in("admin")
    for _ in range(3):
        await admin.get(ACCESS_LOG)
    return await admin.get(ACCESS_LOG)


async def no_such_route(signed_in: ClientFactory, _: ClientFactory) -> httpx.Response:
    return await signed_in("admin").get("/contacts/nowhere")


async def health(_: ClientFactory, client: ClientFactory) -> httpx.Response:
    return await client().get("/contacts/health")


@pytest.mark.parametrize("settings", [SMALL_BODIES | THREE_A_MINUTE], indirect=True)
@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (registered, 201),
        (read, 200),
        (health, 200),
        (unauthenticated, 401),
        (forbidden, 403),
        (not_found, 404),
        (no_such_route, 404),
        (conflict, 409),
        (gone, 410),
        (too_large, 413),
        (invalid, 422),
        (rate_limited, 429),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_every_answer_carries_the_security_headers(
    signed_in: ClientFactory, client: ClientFactory, scenario: Scenario, status: int
) -> None:
    answer = await scenario(signed_in, client)
    assert answer.status_code == status, answer.text
    assert_hardened(answer)
    if status >= 400:
        problem(answer, status)


# --- strict bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "unknown"),
    [
        pytest.param("POST", CUSTOMERS, {**ADA, "nickname": "x"}, "nickname", id="register"),
        pytest.param("POST", CUSTOMERS, {**ADA, "version": 7}, "version", id="register a version"),
        pytest.param("POST", CUSTOMERS, {**ADA, "id": "cus_mine"}, "id", id="register an id"),
        pytest.param("PATCH", "{customer}", {"nickname": "x"}, "nickname", id="change"),
        pytest.param("PATCH", "{customer}", {"owner_id": "u9"}, "owner_id", id="change the owner"),
        pytest.param("PATCH", "{customer}", {"kind": "company"}, "kind", id="change the kind"),
        pytest.param("POST", "{customer}/erasure", {"reason": "asked"}, "reason", id="erase"),
    ],
)
async def test_unknown_fields_are_refused(
    signed_in: ClientFactory,
    service: ContactsService,
    method: str,
    path: str,
    body: dict[str, Any],
    unknown: str,
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    customer = await register(admin, "u1", "north")
    head = await service.store.head_position()

    answer = await admin.request(
        method, path.format(customer=f"{CUSTOMERS}/{customer['id']}"), json=body
    )

    errors = problem(answer, 422, "urn:crm:problem:validation")["errors"]
    assert [e["field"] for e in errors] == [unknown]
    assert await service.store.head_position() == head


@pytest.mark.parametrize(
    "body",
    [[ADA], "Ada Lovelace", 42, None],
    ids=["a list", "a string", "a number", "null"],
)
async def test_a_registration_that_is_not_a_json_object_is_refused(
    signed_in: ClientFactory, body: Any
) -> None:
    answer = await signed_in("admin").post(CUSTOMERS, json=body)
    problem(answer, 422, "urn:crm:problem:validation")


async def test_a_body_that_is_not_json_is_refused(signed_in: ClientFactory) -> None:
    answer = await signed_in("admin").post(
        CUSTOMERS, content=b"name=Ada", headers={"Content-Type": "application/json"}
    )
    problem(answer, 422, "urn:crm:problem:validation")


# --- malformed headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "if_match",
    [
        pytest.param(b"\xb2", id="superscript two (a digit to str.isdigit)"),
        pytest.param(b'"\xb9"', id="quoted superscript one"),
        pytest.param(b"9" * 5000, id="more digits than int() reads"),
    ],
)
async def test_an_if_match_of_odd_digits_is_a_bad_request_not_a_crash(
    signed_in: ClientFactory, if_match: bytes
) -> None:
    admin = signed_in("admin", subject="root", team=None)
    customer = await register(admin, "u1", "north")

    answer = await admin.patch(
        f"{CUSTOMERS}/{customer['id']}", json={"name": "Ada King"}, headers={"If-Match": if_match}
    )

    assert "If-Match" in problem(answer, 400)["detail"]
    assert_hardened(answer)
