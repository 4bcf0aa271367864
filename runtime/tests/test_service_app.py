"""The API app every context builds the same way (``crm_runtime.service_app``) and the
process that serves it (``crm_runtime.process``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from crm_runtime import process
from crm_runtime.auth import TokenVerifier, mint_token
from crm_runtime.http import Problem
from crm_runtime.process import run_process, settings_or_exit
from crm_runtime.service_app import create_service_app, store_health
from crm_runtime.settings import RuntimeSettings


class Settings(RuntimeSettings):
    database: str = "crm_orders"
    http_host: str = "127.0.0.1"
    http_port: int = 8199


class OrderMissing(Exception):
    pass


@dataclass
class Deps:
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_1"


class Database:
    def __init__(self, reachable: bool) -> None:
        self.reachable = reachable

    async def command(self, name: str) -> dict[str, Any]:
        if not self.reachable:
            raise ConnectionError("connection refused")
        return {"ok": 1}


@dataclass
class Orders:
    settings: Settings
    verifier: TokenVerifier
    reachable: bool = True
    deps: Deps = field(default_factory=Deps)
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    tracer_provider: TracerProvider = field(default_factory=TracerProvider)
    lifecycle: list[str] = field(default_factory=list)

    @property
    def client(self) -> dict[str, Database]:
        return {self.settings.database: Database(self.reachable)}

    async def start(self) -> None:
        self.lifecycle.append("started")

    async def close(self) -> None:
        self.lifecycle.append("closed")


def order_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, str]:
        raise OrderMissing(order_id)

    return router


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(embedded_backend="memory", data_dir=tmp_path)


def app_of(service: Orders, **extra: Any) -> FastAPI:
    return create_service_app(
        "orders",
        service,
        title="CRM orders",
        version="0.1.0",
        description="Orders.",
        domain_errors={OrderMissing: lambda e: Problem(404, "Not found", f"no order {e}")},
        routers=[store_health("orders", service), order_routes()],
        prefix="/orders-api",
        **extra,
    )


async def get(app: FastAPI, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as http:
        return await http.get(path, headers=headers)


@pytest.mark.parametrize("reachable", [True, False])
async def test_health_pings_the_store(settings: Settings, reachable: bool) -> None:
    answer = await get(
        app_of(Orders(settings, TokenVerifier(settings), reachable)), "/orders-api/health"
    )
    if reachable:
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "service": "orders", "store": "ok"}
    else:
        assert answer.status_code == 503
        assert "document store unreachable: connection refused" in answer.json()["detail"]


async def test_domain_errors_answer_as_problems_in_one_place(settings: Settings) -> None:
    app = app_of(Orders(settings, TokenVerifier(settings)))
    token = mint_token(settings, subject="u1", roles=["sales_rep"])
    answer = await get(app, "/orders-api/orders/ord_1", token)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"] == "no order ord_1"
    assert (await get(app, "/metrics")).status_code == 200


async def test_the_lifespan_runs_the_background_between_start_and_close(
    settings: Settings,
) -> None:
    service = Orders(settings, TokenVerifier(settings))

    @asynccontextmanager
    async def following() -> AsyncIterator[None]:
        service.lifecycle.append("following")
        yield
        service.lifecycle.append("stopped following")

    app = app_of(service, background=following)
    assert app.state.orders is service
    async with app.router.lifespan_context(app):
        service.lifecycle.append("serving")
    assert service.lifecycle == ["started", "following", "serving", "stopped following", "closed"]


def test_a_process_serves_the_app_of_its_bootstrapped_service_on_its_port(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(process, "configure_logging", lambda name, level: served.update(log=name))
    monkeypatch.setattr(process, "install_global", lambda provider: served.update(traced=provider))
    monkeypatch.setattr(
        process.uvicorn, "run", lambda app, **options: served.update(app=app, **options)
    )
    service = Orders(settings, TokenVerifier(settings))

    run_process("crm-orders-relay", settings, lambda _: service, app_of, 8299)

    assert served["log"] == "crm-orders-relay"
    assert served["traced"] is service.tracer_provider
    assert (served["host"], served["port"], served["log_config"]) == ("127.0.0.1", 8299, None)
    assert served["app"].title == "CRM orders"


def test_bad_settings_end_the_process_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_HTTP_PORT", "not-a-port")

    class Strict(RuntimeSettings):
        port: int = 0

        model_config = {"env_prefix": "CRM_HTTP_"}

    with pytest.raises(SystemExit) as ended:
        settings_or_exit(Strict, "crm-orders")
    assert ended.value.code == 2
    assert "crm-orders: bad setting port:" in capsys.readouterr().err


class Refused(Exception):
    title = "Order closed"


class Invalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@pytest.mark.parametrize(
    ("error", "status", "type_", "extra"),
    [
        (OrderMissing("ord_1"), 404, "not-found", {}),
        (KeyError("ord_1"), 409, "conflict", {}),
        (Refused("closed"), 409, "wrong-state", {}),
        (Invalid("total", "must be positive"), 422, "validation", {
            "errors": [{"field": "total", "message": "must be positive"}]
        }),
    ],
)  # fmt: skip
def test_the_errors_every_context_has_answer_the_same(
    error: Exception, status: int, type_: str, extra: dict[str, Any]
) -> None:
    from crm_runtime.eventstore import IdempotencyKeyReused, WrongExpectedVersion
    from crm_runtime.service_app import context_problems

    problems = context_problems(
        not_found=OrderMissing, already_exists=KeyError, wrong_state=Refused, invalid_input=Invalid
    )
    problem = problems[type(error)](error)
    assert (problem.status, problem.type) == (status, f"urn:crm:problem:{type_}")
    assert problem.extra == extra
    assert {WrongExpectedVersion, IdempotencyKeyReused} <= set(problems)
