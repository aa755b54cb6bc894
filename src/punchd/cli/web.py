"""``punchd web``: the web console (one uvicorn process; registered by cli.main)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated

import typer

from punchd.cli._common import fail, open_site, settings

if TYPE_CHECKING:
    from punchd.app import Site


def register(app: typer.Typer) -> None:
    app.command("web")(web)


def web(
    listen: Annotated[
        str | None,
        typer.Option(metavar="HOST:PORT", help="Address to listen on (default [web] listen)"),
    ] = None,
) -> None:
    """Serve the web console (sign-in, the clocks, Collect now) until stopped (SIGTERM)."""
    s = settings()
    address = listen or s.web.listen
    check_address(address)
    serve(open_site(s), address)


def check_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail(f"--listen must be host:port, e.g. 127.0.0.1:8080 (got {address!r})")
    return host.strip("[]"), int(port)  # [::1]:8080


def serve(site: Site, address: str) -> None:
    """Serve the console of ``site`` on ``address`` until SIGTERM or Ctrl-C; then wait for
    running Collect-now jobs and close the database."""
    import uvicorn

    from punchd import logs
    from punchd.web.app import create_app

    host, port = check_address(address)
    s = site.settings
    app = create_app(site)
    log = logs.get_logger(component="web")
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "web console listening",
        url=f"http://{shown}:{port}/",
        public_url=s.web.public_url,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        log_config=None,  # punchd's own logging (structlog), no uvicorn access log with paths
        access_log=False,
        proxy_headers=False,  # the console decides whom to believe ([web] trusted_proxies)
        server_header=False,
        date_header=True,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the SIGTERM it handled once it has shut down; with this handler in
    # place that is a no-op, so a stop asked for by systemd ends with exit status 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    except OSError as exc:
        raise fail(f"cannot listen on {address}: {exc.strerror or exc}") from None
    finally:
        app.state.console.jobs.wait(timeout=30)
        site.engine.dispose()
    if not server.started:
        raise fail(f"cannot listen on {address}")
