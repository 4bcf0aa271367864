"""The harness's HTTP client of the running CRM: register a customer, look for its view."""

from __future__ import annotations

import uuid
from types import TracebackType

import httpx

from bench.histories import register_request
from bench.system import RunningSystem


class CommandRejected(Exception):
    """The contacts API answered something other than 201 Created."""


class CrmClient:
    def __init__(self, system: RunningSystem, timeout: float) -> None:
        self._run = uuid.uuid4().hex[:8]
        self._http = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
        )
        self._contacts = system.contacts_url
        self._projections = system.projections_url
        self._writer = {"Authorization": f"Bearer {system.writer_token}"}
        self._reader = {"Authorization": f"Bearer {system.reader_token}"}
        self.registered = 0

    async def register(self, number: int) -> str:
        """POST /contacts/customers (with an Idempotency-Key, as clients should send)."""
        answer = await self._http.post(
            f"{self._contacts}/contacts/customers",
            json=register_request(number),
            headers={**self._writer, "Idempotency-Key": f"bench-{self._run}-{number}"},
        )
        if answer.status_code != 201:
            raise CommandRejected(f"HTTP {answer.status_code}: {answer.text[:80]}")
        self.registered += 1
        return str(answer.json()["id"])

    async def view_exists(self, customer_id: str) -> bool:
        answer = await self._http.get(
            f"{self._projections}/views/customers/{customer_id}", headers=self._reader
        )
        if answer.status_code not in (200, 404):
            raise CommandRejected(f"view answered HTTP {answer.status_code}")
        return answer.status_code == 200

    async def __aenter__(self) -> CrmClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self._http.aclose()
