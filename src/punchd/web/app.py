"""The web console: :func:`create_app` builds the FastAPI application for a :class:`Site`.

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript; the JSON
API lives under ``/api/v1`` (bearer tokens). Every route declares its permission
(:mod:`punchd.web.auth`); the console itself only calls :mod:`punchd.app`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from punchd import logs
from punchd.app import Site
from punchd.clock import to_site, utcnow
from punchd.web import auth, i18n, security, views
from punchd.web.jobs import JobRegistry

log = logs.get_logger(component="web")

#: the API's own path prefix; its OpenAPI description is served below it
API_PREFIX = "/api/v1"


class Console:
    """What every request of one application shares."""

    def __init__(self, site: Site, now: Callable[[], datetime]) -> None:
        self.site = site
        self.now = now  # naive UTC
        self.jobs = JobRegistry(site, now=now)
        self.client = security.ClientAddress(site.settings.web.trusted_proxies)
        self.translations = {lang: i18n.load_translations(lang) for lang in i18n.LANGUAGES}
        self.envs = {lang: self._environment(lang) for lang in i18n.LANGUAGES}

    def _environment(self, language: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("punchd.web", "templates"),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.install_gettext_translations(self.translations[language], newstyle=True)  # type: ignore[attr-defined]
        return env

    def local(self, value: datetime | None) -> datetime | None:
        """A naive-UTC time on the site's wall clock."""
        return to_site(value, self.site.settings.timezone)

    def language(self, request: Request) -> str:
        caller: auth.Caller | None = getattr(request.state, "caller", None)
        if caller is not None and caller.account is not None:
            chosen = i18n.known(caller.account.language)
            if chosen:
                return chosen
        return i18n.known(request.cookies.get(security.LANG_COOKIE)) or i18n.negotiate(
            request.headers.get("accept-language")
        )

    def gettext(self, request: Request) -> Callable[[str], str]:
        return self.translations[self.language(request)].gettext

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        status: int = 200,
    ) -> HTMLResponse:
        language = self.language(request)
        caller: auth.Caller = getattr(request.state, "caller", None) or auth.Caller()
        csrf = caller.session.csrf_token if caller.session else None
        # before sign-in, forms (sign-in, language) carry the double-submit token
        signin_csrf = None
        if csrf is None:
            signin_csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_token()
        ctx: dict[str, Any] = {
            "request_path": _path_of(request),
            "caller": caller,
            "account": caller.account,
            "csrf": csrf,
            "lang": language,
            "languages": i18n.LANGUAGE_NAMES,
            "fmt": i18n.Formats(language),
            "local": self.local,
            "timezone": self.site.zone.key,
            "signin_csrf": signin_csrf,
            "refresh": None,
            "error": None,
            "message": None,
            "drift_words": views.drift_words,
            "reason": views.reason,
            "role_names": views.ROLE_NAMES,
            "status_names": views.STATUS_NAMES,
        }
        ctx.update(context or {})
        html = self.envs[language].get_template(template).render(ctx)
        response = HTMLResponse(html, status_code=status)
        if signin_csrf and request.cookies.get(security.CSRF_COOKIE) != signin_csrf:
            response.set_cookie(
                security.CSRF_COOKIE,
                signin_csrf,
                httponly=True,
                samesite="strict",
                secure=self.secure(request),
                path="/",
            )
        return response

    def secure(self, request: Request) -> bool:
        """Cookies flagged Secure: the site is reached over https."""
        return self.site.settings.web.secure_cookies or self.client.https(request)


def _path_of(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def create_app(site: Site, *, now: Callable[[], datetime] | None = None) -> FastAPI:
    """The console for ``site``. ``now`` (naive UTC) is for tests; default the clock."""
    from punchd.web import api, pages

    app = FastAPI(
        title="punchd",
        summary="The punchd API: the clocks, collect now, the signed-in account.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    console = Console(site, now or utcnow)
    app.state.console = console
    _add_routes(app, pages.router)
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
        target = _path_of(request) if request.method == "GET" else "/"
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
