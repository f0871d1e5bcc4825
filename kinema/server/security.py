"""Secure by default: loopback unless a key is set, Bearer keys, bounded request bodies.

- `check_bind`: binding to anything but a loopback address needs an API key.
- `ApiKeyCheck`: every /v1 route wants `Authorization: Bearer <key>` when a key is set
  (compared in constant time). With no key (loopback only) any or no key is accepted,
  so SDK programs keep working unchanged.
- `BodyLimit`: refuses (413) a request body larger than the upload limit while it is
  being received, before anything is parsed or spooled to disk.
- `RequestGuard`: a loopback server answers only requests addressed to a loopback name
  (no DNS rebinding), and no server answers requests a browser sends on behalf of another
  site (an `Origin` that is not the server's own): web pages elsewhere cannot use it.
- `security_headers`: the page loads nothing from elsewhere (CSP), no sniffing, no framing.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kinema.errors import KinemaError
from kinema.server.errors import ApiError, error_response

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if not is_loopback(host) and not api_key:
        raise KinemaError(
            f"binding to {host} exposes the server beyond this machine: set an API key with "
            "--api-key or the KINEMA_API_KEY environment variable (or bind to 127.0.0.1)"
        )
    if api_key is not None and len(api_key) < 16:
        raise KinemaError("the API key must be at least 16 characters long")


class ApiKeyCheck:
    """A FastAPI dependency: the request's Bearer token must equal the server's key."""

    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key

    def __call__(self, request: Request) -> None:
        if self.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise ApiError(
                401,
                "missing or incorrect API key: send it as 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )


def _hostname(host: str) -> str:
    """'name:port', '[v6]:port' -> the name alone."""
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def trusted_hosts(host: str, allowed_hosts: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The host names a server bound to `host` answers (None: any)."""
    if allowed_hosts is not None:
        return allowed_hosts
    return LOOPBACK_HOSTS if is_loopback(host) else None


class RequestGuard:
    """ASGI middleware: refuses requests for other host names and cross-site requests."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] | None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {
                name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
            }
            problem = self._problem(headers.get("host", ""), headers.get("origin"))
            if problem is not None:
                response = error_response(403, problem, code="forbidden")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _problem(self, host: str, origin: str | None) -> str | None:
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return f"this server answers requests for {', '.join(self.allowed_hosts)} only"
        if origin is not None and urlsplit(origin).netloc != host:
            return "requests from other web sites are refused"
        return None


class _TooLarge(Exception):
    pass


def _only_too_large(error: Exception) -> bool:
    """Whether `error` is the body limit's signal, alone or in task-group wrappers."""
    if isinstance(error, ExceptionGroup):
        _, other = error.split(_TooLarge)
        return other is None
    return isinstance(error, _TooLarge)


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body (plus multipart framing)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + 64 * 1024  # room for multipart headers and fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception as error:
            if not _only_too_large(error):
                raise
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"request body is larger than {self.max_bytes} bytes",
            code="request_too_large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every response."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)
