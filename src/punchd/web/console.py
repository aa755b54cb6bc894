"""What every request of one console application shares: the site, the clock, the
collect-now jobs, the languages, and how a page is rendered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from punchd.app import Site
from punchd.clock import to_site
from punchd.proxies import ClientAddress
from punchd.web import auth, i18n, notices, security, views
from punchd.web.jobs import JobRegistry
from punchd.web.snapshots import Snapshots

#: the API's own path prefix; its OpenAPI description is served below it
API_PREFIX = "/api/v1"


class Console:
    """What every request of one application shares."""

    def __init__(self, site: Site, now: Callable[[], datetime], *, snapshot_seconds: float) -> None:
        self.site = site
        self.now = now  # naive UTC
        self.snapshots = Snapshots(snapshot_seconds)
        self.jobs = JobRegistry(site, now=now, on_change=self.snapshots.clear)
        self.client = ClientAddress(site.settings.web.trusted_proxies)
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

    def today(self) -> date:
        """Today at the site, on the console's clock."""
        local = self.local(self.now())
        assert local is not None
        return local.date()

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
        ctx, signin_csrf = self._context(request)
        ctx.update(context or {})
        html = self.envs[ctx["lang"]].get_template(template).render(ctx)
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

    def fragment(self, language: str, template: str, context: dict[str, Any]) -> Markup:
        """A part of a page that is the same for everyone reading it in ``language``: no
        account, no form token in its context (so one rendering can be shared)."""
        ctx: dict[str, Any] = {**self._common(language), **context}
        return Markup(self.envs[language].get_template(template).render(ctx))

    def _common(self, language: str) -> dict[str, Any]:
        fmt = i18n.Formats(language)
        return {
            "lang": language,
            "fmt": fmt,
            "say": notices.Sayer(self.translations[language], fmt),
            "local": self.local,
            "timezone": self.site.zone.key,
            "drift_words": views.drift_words,
            "reason": views.reason,
            "role_names": views.ROLE_NAMES,
            "status_names": views.STATUS_NAMES,
        }

    def _context(self, request: Request) -> tuple[dict[str, Any], str | None]:
        language = self.language(request)
        caller: auth.Caller = getattr(request.state, "caller", None) or auth.Caller()
        csrf = caller.session.csrf_token if caller.session else None
        # before sign-in, forms (sign-in, language) carry the double-submit token
        signin_csrf = None
        if csrf is None:
            signin_csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_token()
        ctx: dict[str, Any] = {
            **self._common(language),
            "request_path": path_of(request),
            "caller": caller,
            "account": caller.account,
            "csrf": csrf,
            "languages": i18n.LANGUAGE_NAMES,
            "signin_csrf": signin_csrf,
            "refresh": None,
            "error": None,
            "message": None,
        }
        return ctx, signin_csrf

    def secure(self, request: Request) -> bool:
        """Cookies flagged Secure: the site is reached over https."""
        return self.site.settings.web.secure_cookies or self.client.https(request)


def path_of(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path
