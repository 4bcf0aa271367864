"""What the services' tests share, free of pytest (the fixtures are in the root conftest.py).

In-memory wiring for ``bootstrap``, a clock the test moves, settings with a signing key of
the test's own, callers with real tokens, a publisher that records what a relay sends, the
relay process read back from Kafka, reading problem+json answers, an app served from a
loop of its own for synchronous property-based tests, and counting the event loop's turns.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import unquote

import httpx

from crm_runtime.auth import mint_token
from crm_runtime.eventstore import StoredEvent
from crm_runtime.settings import RuntimeSettings
from crm_runtime.telemetry import build_tracer_provider

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from crm_runtime.outbox import OutboxRelay

PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
UNLIMITED = "100000/second"
"""A rate limit no test reaches."""

ClientFactory = Callable[..., httpx.AsyncClient]
"""``signed_in(*roles, subject=..., team=...)`` or ``client(headers)`` of conftest.py."""

S = TypeVar("S", bound=RuntimeSettings)
Service = TypeVar("Service", bound="Startable")


class Startable(Protocol):
    settings: Any

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Caller(Protocol):
    """Who calls, as the property-based tests draw them."""

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def subject(self) -> str: ...

    @property
    def team(self) -> str | None: ...


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# --- wiring ----------------------------------------------------------------------------------


@asynccontextmanager
async def loop_turns() -> AsyncIterator[Callable[[], int]]:
    """How many times another task got the event loop while the block ran: a task that
    counts its turns runs beside it (``turns()`` reads the count so far)."""
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    start = turns
    try:
        yield lambda: turns - start
    finally:
        task.cancel()


def memory_document_client() -> Any:
    """A PyMongo-shaped client on an in-memory embedded store of its own (the same code as
    the SQLite store ``make up`` runs on)."""
    from crm_runtime.embedded_store import EmbeddedClient

    return EmbeddedClient(None)


def numbered_ids() -> Callable[[str], str]:
    """An id factory answering ``prefix_0001``, ``prefix_0002``, ... in turn."""
    numbers = count(1)
    return lambda prefix: f"{prefix}_{next(numbers):04x}"


def tracer_provider(name: str, exporter: InMemorySpanExporter | None = None) -> TracerProvider:
    """A tracer provider keeping its spans in memory (in ``exporter`` if given)."""
    if exporter is None:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
    return build_tracer_provider(name, exporter=exporter)


def in_memory(name: str, exporter: InMemorySpanExporter | None = None) -> dict[str, Any]:
    """What ``bootstrap`` is given to run on an in-memory store, spans kept in memory."""
    return {
        "document_client": memory_document_client(),
        "tracer_provider": tracer_provider(name, exporter),
    }


def local_settings(
    kind: type[S], data_dir: Path, overrides: Mapping[str, Any] | None = None, **defaults: Any
) -> S:
    """Settings on the in-memory store whose token signing key is made under ``data_dir``.

    ``overrides`` (a test's indirect parameter) win over the service's test ``defaults``.
    """
    values = {**defaults, **(overrides or {})}
    return kind(embedded_backend="memory", data_dir=data_dir, **values)


@asynccontextmanager
async def started(service: Service) -> AsyncIterator[Service]:
    """``service`` started as its lifespan would, and closed afterwards."""
    await service.start()
    try:
        yield service
    finally:
        await service.close()


# --- callers over HTTP -----------------------------------------------------------------------


def bearer(
    settings: RuntimeSettings, *roles: str, subject: str = "u1", team: str | None = None
) -> dict[str, str]:
    """The Authorization header of a fresh token for ``subject`` with these roles."""
    token = mint_token(settings, subject=subject, roles=list(roles), team=team)
    return {"Authorization": f"Bearer {token}"}


def authorization(settings: RuntimeSettings, caller: Caller | str | None) -> dict[str, str]:
    """The header a drawn caller sends: a token of theirs, a raw value as given, or none."""
    if caller is None:
        return {}
    if isinstance(caller, str):
        return {"Authorization": caller}
    return bearer(settings, *sorted(caller.roles), subject=caller.subject, team=caller.team)


class Clients:
    """``clients(headers)``: an HTTP client of ``app`` sending these headers (none by default).

    Server errors come back as answers (a 500), not as exceptions, so tests can assert on them.
    Every client opened is closed by ``aclose``.
    """

    def __init__(self, app: Any, base_url: str) -> None:
        self._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._base_url = base_url
        self._opened: list[httpx.AsyncClient] = []

    def __call__(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        http = httpx.AsyncClient(
            transport=self._transport, base_url=self._base_url, headers=headers or {}
        )
        self._opened.append(http)
        return http

    async def aclose(self) -> None:
        for http in self._opened:
            await http.aclose()


# --- reading answers -------------------------------------------------------------------------


def problem(answer: httpx.Response, status: int, type_: str | None = None) -> dict[str, Any]:
    """The problem+json body of ``answer``, after checking its status (and type if given)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if type_ is not None:
        assert body["type"] == type_, body
    return body


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_no_server_error(answer: httpx.Response) -> None:
    """No 5xx, and every 4xx a problem+json body that repeats its status."""
    status = answer.status_code
    assert status < 500, answer.text
    if status >= 400:
        assert answer.headers.get("content-type") == PROBLEM_JSON, answer.text
        assert answer.json()["status"] == status


def assert_shows_none(answer: httpx.Response, secrets: Sequence[str]) -> None:
    """None of ``secrets`` is anywhere in ``answer``, its headers included, but those the
    request carried itself: an answer may echo the caller's own input (a 404's detail names
    the id asked for, and a fuzzer may ask for an id that holds a secret)."""
    everything = answer.text + "\n" + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
    request = answer.request
    sent = unquote(str(request.url)) + "\n" + request.content.decode("utf-8", "replace")
    shown = [secret for secret in secrets if secret in everything and secret not in sent]
    assert shown == [], everything


# --- an app for synchronous (property-based) tests -------------------------------------------


@dataclass(frozen=True)
class Body:
    """What a request carries, and the content type it claims (if any)."""

    content: bytes
    content_type: str | None


@dataclass
class Served:
    """An app served over ASGI from a loop of its own, called from a synchronous test."""

    portal: BlockingPortal
    http: httpx.AsyncClient
    settings: Any

    def send(
        self,
        method: str,
        path: str,
        caller: Caller | str | None,
        body: Body | None = None,
        headers: Mapping[str, str | bytes | None] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send the request as ``caller``; headers given as None are left out."""
        sent: dict[str, str | bytes] = {
            name: value for name, value in (headers or {}).items() if value is not None
        }
        sent.update(authorization(self.settings, caller))
        if body is not None and body.content_type is not None:
            sent["Content-Type"] = body.content_type
        request = self.http.build_request(
            method,
            path,
            content=body.content if body is not None else None,
            headers=sent,
            params=params,
        )
        answer: httpx.Response = self.portal.call(self.http.send, request)
        return answer


@contextmanager
def serving(
    service: Service,
    create_app: Callable[[Service], Any],
    base_url: str,
    seed: Callable[[Service], Awaitable[None]] | None = None,
) -> Iterator[Served]:
    """``service`` started (and seeded) on a loop of its own, its app answering over ASGI."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        portal.call(service.start)
        if seed is not None:
            portal.call(seed, service)
        transport = httpx.ASGITransport(app=create_app(service), raise_app_exceptions=False)
        http = httpx.AsyncClient(transport=transport, base_url=base_url)
        try:
            yield Served(portal, http, service.settings)
        finally:
            portal.call(http.aclose)
            portal.call(service.close)


# --- the outbox relay ------------------------------------------------------------------------


class RecordingPublisher:
    """A publisher that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        self.events.extend(events)


def recording_relay(service: Any, name: str) -> tuple[OutboxRelay, RecordingPublisher]:
    """An outbox relay of ``service`` publishing, personal data opened, to a recorder."""
    from prometheus_client import CollectorRegistry

    from crm_runtime.outbox import OutboxRelay, RelayMetrics
    from crm_runtime.personal_data import RevealingPublisher

    published = RecordingPublisher()
    relay = OutboxRelay(
        service.store,
        RevealingPublisher(published, service.deps.sealed),
        service.relay_lease(),
        RelayMetrics(CollectorRegistry(), name),
    )
    return relay, published


def on_own_topic(settings: S, bootstrap_servers: str, name: str) -> S:
    """``settings`` on ``bootstrap_servers`` and a topic no other test writes to."""
    topic = f"test.{name}.{uuid.uuid4().hex[:8]}"
    return settings.model_copy(
        update={"kafka_bootstrap_servers": bootstrap_servers, "topic": topic}
    )


async def consume(bootstrap: str, topic: str, expected: int, within: float = 20) -> list[Any]:
    """The first ``expected`` records of ``topic``, read from the start, in commit order."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(within):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: int(dict(r.headers)["ce_sequence"]))


async def relay_to_kafka(
    relay_app: Any, bootstrap: str, topic: str, expected: int
) -> tuple[list[Any], dict[str, Any]]:
    """Run the relay app's lifespan until ``expected`` records are on ``topic``.

    Answers the records and what the app's ``/health`` said while it ran.
    """
    async with relay_app.router.lifespan_context(relay_app):
        records = await consume(bootstrap, topic, expected=expected)
        transport = httpx.ASGITransport(app=relay_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            health: dict[str, Any] = (await http.get("/health")).json()
    return records, health
