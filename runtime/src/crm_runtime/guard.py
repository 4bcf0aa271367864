"""The HTTP guard every service installs: authentication, rate limits, size limits, headers.

``install_guard`` wires it once per app; routes ask for the caller with the
``Caller`` dependency. Refusals are problem+json: 401 (with WWW-Authenticate)
for missing or bad tokens, 403 for a forbidden action (logged), 413 for a body
over the limit, 429 (with Retry-After) past the caller's rate.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_runtime.auth import Principal, TokenVerifier, Unauthenticated
from crm_runtime.http import SECURITY_HEADERS, Problem, problem_response
from crm_runtime.policy import Forbidden
from crm_runtime.settings import RuntimeSettings

log = structlog.get_logger("crm.security")


class RateLimited(Exception):
    def __init__(self, caller: str, retry_after: int) -> None:
        super().__init__(f"too many requests from {caller}; retry in {retry_after} s")
        self.retry_after = retry_after


class CallerLimits:
    """Per-caller request budgets (per replica: each pod counts its own callers)."""

    def __init__(self, spec: str) -> None:
        self._items: list[RateLimitItem] = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def spend(self, caller: str) -> None:
        for item in self._items:
            if not await self._limiter.hit(item, caller):
                stats = await self._limiter.get_window_stats(item, caller)
                raise RateLimited(caller, max(1, int(stats.reset_time - time.time()) + 1))


class BodyTooLarge(HTTPException):
    """A streamed body passed the limit. An HTTPException, because FastAPI's body parser
    lets only those through: any other error while reading becomes a 400."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request bodies are limited to {max_bytes} bytes")


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)

    def _detail(self) -> str:
        return f"request bodies are limited to {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = problem_response(Problem(413, "Content too large", self._detail()), request)
        await response(scope, receive, send)


def install_guard(app: FastAPI, settings: RuntimeSettings, verifier: TokenVerifier) -> None:
    """Authentication, limits and security headers for every route of ``app``."""
    app.state.verifier = verifier
    app.state.caller_limits = CallerLimits(settings.rate_limit)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., Awaitable[Any]]) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(Unauthenticated)
    async def on_unauthenticated(request: Request, error: Exception) -> JSONResponse:
        response = problem_response(
            Problem(401, "Unauthorized", str(error), type_="urn:crm:problem:unauthenticated"),
            request,
        )
        missing = isinstance(error, Unauthenticated) and error.missing
        response.headers["WWW-Authenticate"] = (
            'Bearer realm="crm"' if missing else 'Bearer realm="crm", error="invalid_token"'
        )
        return response

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, error: Forbidden) -> JSONResponse:
        log.warning(
            "forbidden",
            actor=error.principal.actor,
            action=error.action,
            path=request.url.path,
            method=request.method,
        )
        return problem_response(
            Problem(403, "Forbidden", str(error), type_="urn:crm:problem:forbidden"), request
        )

    @app.exception_handler(BodyTooLarge)
    async def on_body_too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return problem_response(Problem(413, "Content too large", str(error.detail)), request)

    @app.exception_handler(RateLimited)
    async def on_rate_limited(request: Request, error: RateLimited) -> JSONResponse:
        response = problem_response(
            Problem(429, "Too many requests", str(error), type_="urn:crm:problem:rate-limited"),
            request,
        )
        response.headers["Retry-After"] = str(error.retry_after)
        return response


async def authenticate(request: Request) -> Principal:
    """The FastAPI dependency behind ``Caller``: verify the bearer token, spend its budget."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        client = request.client.host if request.client else "unknown"
        await request.app.state.caller_limits.spend(f"anonymous:{client}")
        raise Unauthenticated("send a bearer token: Authorization: Bearer <token>", missing=True)
    principal: Principal = await request.app.state.verifier.verify(token.strip())
    await request.app.state.caller_limits.spend(principal.actor)
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
