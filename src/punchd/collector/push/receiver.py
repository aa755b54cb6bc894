"""The push receiver's HTTP side: a Starlette app for ``/iclock/…`` and the uvicorn server that
``punchd run`` starts in a thread when ``[push] listen`` is set.

The app only reads requests and sends replies: what a request means is
:class:`~punchd.collector.push.service.PushService`'s. Database work is blocking and runs in
worker threads; uploads have their own small pool and a per-clock bound, so one flooding clock
cannot starve the others. Heartbeats dominate the load and nearly all of them carry nothing:
those are answered on the event loop from memory, with no hop to a thread — under one
interpreter lock shared with the upload threads, every hop is a wait — and their database
chores (last contact, the look for queued commands) run afterwards in the background. Every
reply is text/plain with a ``Date:`` header (clocks set their time from it).
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from punchd import logs
from punchd.clock import utcnow
from punchd.collector.push.service import OK, Chore, PushService, Reply
from punchd.drivers import DeviceConfig
from punchd.proxies import ClientAddress

#: what a serial number may look like in a request (anything else is a malformed query)
SERIAL = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: uploads handled at the same time across all clocks (database writers). Parsing and storing
#: is CPU work under one interpreter lock: more threads than this add no throughput on a small
#: box and make heartbeats wait (bench/push.py, PostgreSQL: 8 threads 7,256 punches/s with
#: heartbeat p99 179 ms; 3 threads 8,078/s with p99 66 ms)
UPLOAD_THREADS = 3
#: every other request (heartbeats, handshakes …)
LIGHT_THREADS = 32

log = logs.get_logger(component="push")


class TooLarge(Exception):
    pass


def http_date(now: datetime) -> str:
    """``now`` (naive UTC) as an HTTP date (RFC 9110 IMF-fixdate)."""
    return format_datetime(now.replace(tzinfo=UTC, microsecond=0), usegmt=True)


class DateMiddleware:
    """A ``Date:`` header on every response (404s included), none twice."""

    def __init__(self, app: ASGIApp, now: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", http_date(self.now()).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, dated)


def _text(reply: Reply) -> Response:
    return PlainTextResponse(reply.text, status_code=reply.status, headers=reply.headers)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (declared or counted): else TooLarge."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge
        except ValueError:
            raise TooLarge from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(service: PushService) -> ASGIApp:
    """The receiver: ``/iclock/<endpoint>`` (``.aspx`` spellings too) for GET and POST."""
    uploads = anyio.CapacityLimiter(UPLOAD_THREADS)
    light = anyio.CapacityLimiter(LIGHT_THREADS)
    address_of = ClientAddress(service.push.trusted_proxies)

    chores_running: set[asyncio.Task] = set()

    async def run(limiter: anyio.CapacityLimiter, fn: Callable[..., Reply], *args) -> Reply:
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    def later(chores: list[Chore]) -> None:
        """Run ``chores`` in the background, in worker threads; the reply does not wait."""
        for chore in chores:
            task = asyncio.get_running_loop().create_task(_chore(chore))
            chores_running.add(task)  # a reference, or the task may be collected mid-way
            task.add_done_callback(chores_running.discard)

    async def _chore(chore: Chore) -> None:
        try:
            await anyio.to_thread.run_sync(chore, limiter=light)
        except Exception as exc:  # a chore is bookkeeping: log it, never fail a request
            log.error("push background work failed", error=logs.scrub(str(exc)))

    def contact(device: DeviceConfig, address: str) -> None:
        if service.note_contact(device, address):
            later([lambda: service.record_contact(device, address)])

    async def iclock(request: Request) -> Response:
        endpoint = request.path_params["endpoint"].strip("/").lower().removesuffix(".aspx")
        serial = request.query_params.get("SN") or request.query_params.get("sn")
        address = address_of(request)
        if not serial or not SERIAL.fullmatch(serial):
            log.warning(
                "push request refused: no valid SN in the query",
                path=request.url.path,
                query=logs.scrub(str(request.url.query))[:200],
                address=address,
            )
            return _text(Reply(400, "malformed query: SN missing or invalid"))
        admitted = service.admit_known(serial, address)
        if admitted is None:  # not configured: recorded as pending (a database write)
            admitted = await run(light, service.admit, serial, address)
        if isinstance(admitted, Reply):
            return _text(admitted)
        device: DeviceConfig = admitted
        method = request.method
        if endpoint == "cdata" and method == "POST":
            return await _upload(request, device, address)
        if endpoint == "cdata":
            if request.query_params.get("options") or request.query_params.get("table") is None:
                return _text(await run(light, service.handshake, device, address))
        elif endpoint == "getrequest":
            info = request.query_params.get("INFO")
            if info:  # the first poll after a handshake: the clock says what it is
                return _text(await run(light, service.getrequest, device, address, info))
            reply, chores = service.heartbeat(device, address)
            later(chores)
            if reply is None:
                reply = await run(light, service.getrequest, device, address)
            return _text(reply)
        elif endpoint == "devicecmd" and method == "POST":
            try:
                body = await _body(request, service.push.max_body_bytes)
            except TooLarge:
                return _too_large(device, endpoint)
            return _text(await run(light, service.devicecmd, device, body))
        # ping and everything else: acknowledged, so that the clock does not loop
        contact(device, address)
        return _text(Reply(200, OK))

    async def _upload(request: Request, device: DeviceConfig, address: str) -> Response:
        table = (request.query_params.get("table") or "").upper()
        stamp = request.query_params.get("Stamp") or request.query_params.get("OpStamp")
        push = service.push
        if not service.state.begin_upload(device.name, push.max_uploads_per_device):
            log.warning(
                "push upload deferred: too many uploads of this clock at once",
                device=device.name,
                limit=push.max_uploads_per_device,
            )
            return _text(Reply(503, "busy", {"Retry-After": str(push.error_delay)}))
        try:
            try:
                body = await _body(request, push.max_body_bytes)
            except TooLarge:
                return _too_large(device, table or "cdata")
            contact(device, address)
            if table == "ATTLOG":
                return _text(await run(uploads, service.attlog, device, body, stamp))
            if table == "OPERLOG":
                return _text(await run(uploads, service.operlog, device, body, stamp))
            return _text(Reply(200, OK))  # photos, options, unknown tables: taken, not kept
        finally:
            service.state.end_upload(device.name)

    def _too_large(device: DeviceConfig, what: str) -> Response:
        log.warning(
            "push request refused: body too large",
            device=device.name,
            endpoint=what,
            limit=service.push.max_body_bytes,
        )
        return PlainTextResponse(
            "request body too large", status_code=413, headers={"Connection": "close"}
        )

    async def failed(request: Request, exc: Exception) -> Response:
        log.error("push request failed", path=request.url.path, error=logs.scrub(str(exc)))
        return PlainTextResponse("internal error", status_code=500)

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("not found", status_code=404)

    app = Starlette(
        routes=[Route("/iclock/{endpoint:path}", iclock, methods=["GET", "POST"])],
        exception_handlers={Exception: failed, 404: not_found},
    )
    return DateMiddleware(app, service.now)


class Receiver:
    """The receiver's uvicorn server in a thread of the calling process."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, graceful_seconds: float = 10.0
    ) -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, in the caller's thread: a port in use is an error of `punchd run`.
        self.socket = socket.create_server((host, port), family=family, backlog=512)
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            date_header=False,  # DateMiddleware writes it, on punchd's clock
            server_header=False,
            timeout_graceful_shutdown=graceful_seconds,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="push-receiver", daemon=True)

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.socket]))
        except Exception as exc:  # pragma: no cover - logged, the daemon carries on polling
            log.error("push receiver stopped by an error", error=logs.scrub(str(exc)))

    def start(self, timeout: float = 10.0) -> None:
        # What the process holds by now (modules, tables, settings) lives as long as it: out
        # of the collector's full passes, which stop every thread — heartbeats included —
        # for as long as they walk the heap (90 ms at 100 MB while clocks upload).
        gc.collect()
        gc.freeze()
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.02)
        if not self.server.started:
            raise RuntimeError(f"push receiver did not start on {self.host}:{self.port}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop accepting, let uploads in flight finish (those that do not get no OK);
        True when the server thread ended in time."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(1.0)
        self.socket.close()
        gc.unfreeze()
        return not self.thread.is_alive()
