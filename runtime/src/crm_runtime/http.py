"""HTTP conventions shared by every service: problem details, trace ids, metrics, health."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm_runtime.telemetry import current_trace_id

PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
"""Sent on every answer by the guard's middleware, and on every problem (a 500 included)."""
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = structlog.get_logger("crm.http")


class Problem(Exception):
    """An RFC 9457 problem: raise it (or map a domain error to it) to answer with one."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = dict(extra or {})


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        **problem.extra,
    }
    trace_id = current_trace_id()
    if trace_id:
        body["trace_id"] = trace_id
    response = JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON)
    # Here as well as in ``install_observability``: a 500 is answered outside the middleware.
    if trace_id:
        response.headers["X-Trace-Id"] = trace_id
    correlation_id = correlation_of(request)
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def install_problem_handlers(
    app: FastAPI, domain_errors: Mapping[type[Exception], Callable[[Exception], Problem]]
) -> None:
    """Map every error to problem+json in one place: validation, HTTP and domain errors."""

    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in e["loc"] if part != "body"),
                "message": e["msg"],
            }
            for e in error.errors()
        ]
        fields = ", ".join(e["field"] or "body" for e in errors)
        return problem_response(
            Problem(
                422,
                "Invalid request",
                f"invalid value for: {fields}",
                type_="urn:crm:problem:validation",
                extra={"errors": errors},
            ),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            Problem(error.status_code, _title(error.status_code), str(error.detail)), request
        )

    for error_type, to_problem in domain_errors.items():

        async def on_domain(
            request: Request,
            error: Exception,
            to_problem: Callable[[Exception], Problem] = to_problem,
        ) -> JSONResponse:
            return problem_response(to_problem(error), request)

        app.add_exception_handler(error_type, on_domain)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        correlation_id = correlation_of(request)
        ids = {"correlation_id": correlation_id} if correlation_id else {}
        log.exception("unhandled error", path=request.url.path, **ids)
        return problem_response(
            Problem(500, "Internal error", "the request failed; quote the trace id to operations"),
            request,
        )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.requests = Counter(
            "crm_http_requests",
            "HTTP requests handled.",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "crm_http_request_seconds",
            "HTTP request latency.",
            ["service", "method", "route"],
            registry=registry,
        )
        self.service = service


def install_observability(app: FastAPI, registry: CollectorRegistry, service: str) -> None:
    """Request metrics, ``GET /metrics`` and a ``traceparent``/``X-Trace-Id`` on every response."""
    metrics = HttpMetrics(registry, service)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()

        def observed(status: int) -> None:
            path = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.requests.labels(service, request.method, path, str(status)).inc()
            metrics.latency.labels(service, request.method, path).observe(
                time.perf_counter() - started
            )

        try:
            response = await call_next(request)
        except Exception:
            observed(500)  # answered by the server-error handler, outside this middleware
            raise
        observed(response.status_code)
        trace_id = current_trace_id()
        if trace_id:
            response.headers["X-Trace-Id"] = trace_id
        return response

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install_correlation(app: FastAPI, new_command_id: Callable[[], str]) -> None:
    """Give every command (POST, PUT, PATCH, DELETE) its ids before anything else runs.

    The command id is new; the correlation and causation ids come from the
    ``X-Correlation-Id`` and ``X-Causation-Id`` request headers, or are the
    command id when absent. Routes read them with ``command_ids(request)``.
    Every answer to a command, refusals included, carries ``X-Correlation-Id``:
    the id that ``crm trace`` finds the command's events by. Log lines written
    while the command runs carry it as ``correlation_id``, and the server span
    as ``crm.correlation_id``.
    """

    @app.middleware("http")
    async def correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method not in COMMAND_METHODS:
            return await call_next(request)
        command_id = new_command_id()
        correlation_id = (request.headers.get("x-correlation-id") or command_id)[:200]
        request.state.command_id = command_id
        request.state.correlation_id = correlation_id
        request.state.causation_id = (request.headers.get("x-causation-id") or command_id)[:200]
        trace.get_current_span().set_attribute("crm.correlation_id", correlation_id)
        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            response = await call_next(request)
        response.headers["X-Correlation-Id"] = request.state.correlation_id
        return response


def command_ids(request: Request) -> tuple[str, str, str]:
    """``(command id, correlation id, causation id)`` given by ``install_correlation``."""
    state = request.state
    return state.command_id, state.correlation_id, state.causation_id


def answer_correlation(request: Request, correlation_id: str) -> None:
    """Answer with another correlation id, e.g. the original one of a replayed command."""
    request.state.correlation_id = correlation_id


def correlation_of(request: Request) -> str | None:
    """The correlation id this request's answer carries, if it is a command."""
    correlation_id = (request.scope.get("state") or {}).get("correlation_id")
    return str(correlation_id) if correlation_id else None
