"""The web console: :func:`create_app` builds the FastAPI application for a :class:`Site`.

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript; the JSON
API lives under ``/api/v1`` (bearer tokens). Every route declares its permission
(:mod:`punchd.web.auth`); the console itself only calls :mod:`punchd.app`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from punchd import logs
from punchd.app import Site
from punchd.clock import utcnow
from punchd.web import absences as absence_pages
from punchd.web import api, auth, i18n, pages, security
from punchd.web import people as people_pages
from punchd.web import periods as period_pages
from punchd.web import reports as report_pages
from punchd.web import rules as rule_pages
from punchd.web import schedules as schedule_pages
from punchd.web import selfservice as selfservice_pages
from punchd.web.console import API_PREFIX, Console, path_of
from punchd.web.snapshots import SNAPSHOT_SECONDS

log = logs.get_logger(component="web")


def create_app(
    site: Site,
    *,
    now: Callable[[], datetime] | None = None,
    snapshot_seconds: float = SNAPSHOT_SECONDS,
) -> FastAPI:
    """The console for ``site``. ``now`` (naive UTC) is for tests; default the clock.
    ``snapshot_seconds``: how long the clocks and home pages share one reading of the site
    (:mod:`punchd.web.snapshots`; 0: never)."""
    app = FastAPI(
        title="punchd",
        summary="The punchd API: the clocks, collect now, the signed-in account.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    console = Console(site, now or utcnow, snapshot_seconds=snapshot_seconds)
    app.state.console = console
    _add_routes(app, pages.router)
    _add_routes(app, people_pages.router)
    _add_routes(app, period_pages.router)
    _add_routes(app, selfservice_pages.router)
    _add_routes(app, schedule_pages.router)
    _add_routes(app, absence_pages.router)
    _add_routes(app, report_pages.router)
    app.state.roster_uploads = people_pages.UploadStore()
    _add_routes(app, rule_pages.router)
    app.state.rules_uploads = rule_pages.UploadStore()
    _add_routes(app, api.router, prefix=API_PREFIX)
    app.mount(
        "/static",
        StaticFiles(directory=i18n.HERE / "static"),
        name="static",
    )
    app.add_middleware(security.BodyLimitMiddleware, limit=site.settings.web.max_body_bytes)
    app.add_middleware(security.HeadersMiddleware)
    _handlers(app, console)
    return app


def _add_routes(app: FastAPI, router: APIRouter, prefix: str = "") -> None:
    """The router's routes as the app's own (not an included router): ``app.routes`` is then
    the whole permission table, which the tests walk."""
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.router.add_api_route(
            prefix + route.path,
            route.endpoint,
            methods=sorted(route.methods),
            name=route.name,
            response_model=route.response_model,
            status_code=route.status_code,
            include_in_schema=route.include_in_schema,
            tags=route.tags,
            summary=route.summary,
            description=route.description,
        )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/") or request.url.path == API_PREFIX


def _handlers(app: FastAPI, console: Console) -> None:
    @app.exception_handler(auth.SignInRequired)
    async def _sign_in(request: Request, _exc: Exception) -> Response:
        target = path_of(request) if request.method == "GET" else "/"
        response = RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
        if request.cookies.get(security.SESSION_COOKIE):
            response.delete_cookie(security.SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(auth.PageNotFound)
    async def _page_not_found(request: Request, _exc: Exception) -> Response:
        return console.render(request, "error.html", {"kind": "not_found"}, status=404)

    @app.exception_handler(auth.FormExpired)
    async def _form_expired(request: Request, _exc: Exception) -> Response:
        return console.render(request, "error.html", {"kind": "csrf"}, status=403)

    @app.exception_handler(auth.ApiUnauthorized)
    async def _api_unauthorized(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(
            {"detail": "a valid API token is required (Authorization: Bearer …)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(auth.ApiNotFound)
    async def _api_not_found(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"detail": "not found"}, status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            detail = "not found" if exc.status_code == 404 else str(exc.detail)
            return JSONResponse({"detail": detail}, status_code=exc.status_code)
        if exc.status_code in (404, 405):
            await auth.identify(request)  # the header shows who is signed in
        kinds = {404: "not_found", 405: "not_found", 413: "too_large"}
        kind = kinds.get(exc.status_code, "bad_request")
        return console.render(request, "error.html", {"kind": kind}, status=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            # the locations and messages only: never the values sent (a password …)
            problems = [
                {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
            ]
            return JSONResponse({"detail": problems}, status_code=422)
        return console.render(request, "error.html", {"kind": "bad_request"}, status=400)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.error("unexpected failure", path=request.url.path, error=exc.__class__.__name__)
        if _is_api(request):
            return JSONResponse({"detail": "internal error; see the log"}, status_code=500)
        return console.render(request, "error.html", {"kind": "internal"}, status=500)
