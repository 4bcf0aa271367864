"""The single HTTP entry of the embedded stack: routes by path prefix, as an Ingress would.

``/contacts/...`` goes to the contacts service and ``/views/...`` to the
projections service, unchanged. ``GET /health`` answers 200 only when every
service, the broker and the document store are reachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from crm_runtime.documents import open_document_client
from crm_runtime.http import Problem, install_problem_handlers
from crm_runtime.kafka import kafka_reachable
from crm_runtime.settings import RuntimeSettings

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class GatewaySettings(RuntimeSettings):
    host: str = Field(default="127.0.0.1", alias="CRM_GATEWAY_HOST")
    port: int = Field(default=8000, alias="CRM_GATEWAY_PORT")
    contacts_url: str = Field(default="http://127.0.0.1:8101", alias="CRM_CONTACTS_URL")
    contacts_relay_url: str = Field(default="http://127.0.0.1:8111", alias="CRM_CONTACTS_RELAY_URL")
    contacts_consumer_url: str = Field(
        default="http://127.0.0.1:8121", alias="CRM_CONTACTS_CONSUMER_URL"
    )
    projections_url: str = Field(default="http://127.0.0.1:8102", alias="CRM_PROJECTIONS_URL")
    pipeline_url: str = Field(default="http://127.0.0.1:8103", alias="CRM_PIPELINE_URL")
    pipeline_relay_url: str = Field(default="http://127.0.0.1:8113", alias="CRM_PIPELINE_RELAY_URL")
    pipeline_scheduler_url: str = Field(
        default="http://127.0.0.1:8123", alias="CRM_PIPELINE_SCHEDULER_URL"
    )
    tickets_url: str = Field(default="http://127.0.0.1:8104", alias="CRM_TICKETS_URL")
    tickets_relay_url: str = Field(default="http://127.0.0.1:8114", alias="CRM_TICKETS_RELAY_URL")
    tickets_scheduler_url: str = Field(
        default="http://127.0.0.1:8124", alias="CRM_TICKETS_SCHEDULER_URL"
    )
    loyalty_url: str = Field(default="http://127.0.0.1:8105", alias="CRM_LOYALTY_URL")
    loyalty_relay_url: str = Field(default="http://127.0.0.1:8115", alias="CRM_LOYALTY_RELAY_URL")
    loyalty_consumer_url: str = Field(
        default="http://127.0.0.1:8125", alias="CRM_LOYALTY_CONSUMER_URL"
    )
    loyalty_scheduler_url: str = Field(
        default="http://127.0.0.1:8135", alias="CRM_LOYALTY_SCHEDULER_URL"
    )
    sagas_url: str = Field(default="http://127.0.0.1:8106", alias="CRM_SAGAS_URL")
    sagas_runner_url: str = Field(default="http://127.0.0.1:8116", alias="CRM_SAGAS_RUNNER_URL")

    def routes(self) -> dict[str, str]:
        return {
            "/contacts": self.contacts_url,
            "/pipeline": self.pipeline_url,
            "/tickets": self.tickets_url,
            "/loyalty": self.loyalty_url,
            "/sagas": self.sagas_url,
            "/views": self.projections_url,
        }

    def health_checks(self) -> dict[str, str]:
        return {
            "contacts": f"{self.contacts_url}/contacts/health",
            "contacts-relay": f"{self.contacts_relay_url}/health",
            "contacts-consumer": f"{self.contacts_consumer_url}/health",
            "pipeline": f"{self.pipeline_url}/pipeline/health",
            "pipeline-relay": f"{self.pipeline_relay_url}/health",
            "pipeline-scheduler": f"{self.pipeline_scheduler_url}/health",
            "tickets": f"{self.tickets_url}/tickets/health",
            "tickets-relay": f"{self.tickets_relay_url}/health",
            "tickets-scheduler": f"{self.tickets_scheduler_url}/health",
            "loyalty": f"{self.loyalty_url}/loyalty/health",
            "loyalty-relay": f"{self.loyalty_relay_url}/health",
            "loyalty-consumer": f"{self.loyalty_consumer_url}/health",
            "loyalty-scheduler": f"{self.loyalty_scheduler_url}/health",
            "sagas": f"{self.sagas_url}/sagas/health",
            "sagas-runner": f"{self.sagas_runner_url}/health",
            "projections": f"{self.projections_url}/views/health",
        }


def create_gateway(settings: GatewaySettings) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["http"] = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0))
        state["store"] = open_document_client(settings, app_name="crm-gateway")
        try:
            yield
        finally:
            await state["http"].aclose()
            await state["store"].close()

    app = FastAPI(title="CRM gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_problem_handlers(app, {})

    @app.get("/health")
    async def health() -> JSONResponse:
        http: httpx.AsyncClient = state["http"]

        async def service(url: str) -> str:
            try:
                answer = await http.get(url, timeout=3.0)
            except httpx.HTTPError as error:
                return f"unreachable: {type(error).__name__}"
            return "ok" if answer.status_code == 200 else f"unhealthy: HTTP {answer.status_code}"

        async def store() -> str:
            try:
                await asyncio.wait_for(state["store"]["admin"].command("ping"), 3.0)
            except Exception as error:
                return f"unreachable: {error}"
            return "ok"

        async def broker() -> str:
            ok = await kafka_reachable(settings.kafka_bootstrap_servers)
            return "ok" if ok else "unreachable"

        names = list(settings.health_checks())
        results = await asyncio.gather(
            *(service(url) for url in settings.health_checks().values()), broker(), store()
        )
        checks = dict(zip([*names, "broker", "store"], results, strict=True))
        failing = [name for name, value in checks.items() if value != "ok"]
        body = {"status": "ok" if not failing else "unavailable", "checks": checks}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=200 if not failing else 503)

    @app.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )
    async def route(path: str, request: Request) -> Response:
        target = _target(settings.routes(), "/" + path)
        if target is None:
            raise Problem(
                404,
                "Not found",
                f"no service serves /{path}; known prefixes: " + ", ".join(settings.routes()),
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-forwarded-for"] = request.client.host if request.client else ""
        try:
            answer = await state["http"].request(
                request.method,
                target + "/" + path,
                params=request.query_params.multi_items(),
                headers=headers,
                content=await request.body(),
            )
        except httpx.HTTPError as error:
            raise Problem(502, "Bad gateway", f"upstream {target} failed: {error}") from error
        return Response(
            content=answer.content,
            status_code=answer.status_code,
            headers={
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"
            },
        )

    return app


def _target(routes: dict[str, str], path: str) -> str | None:
    for prefix, url in routes.items():
        if path == prefix or path.startswith(prefix + "/"):
            return url
    return None


def main() -> None:
    import uvicorn

    from crm_runtime.logs import configure_logging

    settings = GatewaySettings()
    configure_logging("crm-gateway", settings.log_level)
    uvicorn.run(
        create_gateway(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
