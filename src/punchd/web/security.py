"""What every response and request of the console goes through: security headers, the body
size limit, the client's address behind trusted proxies, and CSRF tokens.

The middlewares are plain ASGI (no buffering of responses), so a streamed body is counted
as it arrives and refused with 413 as soon as it is too large.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
#: headers on every response
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
#: the double-submit cookie of forms shown before sign-in
CSRF_COOKIE = "punchd_csrf"
SESSION_COOKIE = "punchd_session"
LANG_COOKIE = "lang"


class HeadersMiddleware:
    """Security headers everywhere; ``Cache-Control: no-store`` on everything but the static
    files (so the back button after sign-out asks the server again)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"cache-control", b"server")
                ]
                headers += SECURITY_HEADERS
                headers.append(
                    (b"cache-control", b"public, max-age=3600" if static else b"no-store")
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


TOO_LARGE_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>413</title>"
    b"<p>The form is too large. / \xe8\xa1\xa8\xe5\x8d\x95\xe5\xa4\xaa\xe5\xa4\xa7\xe3\x80\x82"
)


class BodyLimitMiddleware:
    """Refuses a request body larger than ``limit`` bytes with 413: at once when
    Content-Length says so, else when the bytes received pass it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await _too_large(send)
                    return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(TOO_LARGE_PAGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE_PAGE})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens; a missing one never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site (``/clocks?x=1``), else ``/``: never another
    host (``//evil``, ``/\\evil``, ``https://…``)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\t\\")
        or any(ord(c) < 0x20 for c in target)
    ):
        return "/"
    return target
