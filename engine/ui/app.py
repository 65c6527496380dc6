"""The dashboard's ASGI app and its server: ``create_app(config)`` and ``serve(config)``.

One pure ASGI middleware guards every request (Host header, session) and adds the security
headers; the routes (``engine.ui.routes``) only read the stores and render templates.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import jinja2
from loguru import logger
from starlette.applications import Starlette
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.config import Settings, get_settings
from engine.errors import ConfigError
from engine.logs import mask, register_secret
from engine.ui.security import COOKIE, SECURITY_HEADERS, Sessions, UiConfig, allowed_hosts, is_public

HERE = Path(__file__).resolve().parent


class Guard:
    """Host check, session check and security headers; one access log line without the query string."""

    def __init__(
        self, app: ASGIApp, config: UiConfig, sessions: Sessions, templates: Jinja2Templates
    ) -> None:
        self.app, self.config, self.sessions, self.templates = app, config, sessions, templates
        self.hosts = allowed_hosts(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status_box: dict[str, int] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in names
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        try:
            if self.hosts is not None and headers.get("host", "") not in self.hosts:
                await _plain(
                    send_with_headers,
                    421,
                    "Ui.request: unknown Host header. Open the address rpa ui printed.",
                )
                return
            session = self.sessions.get(_cookie(headers.get("cookie", "")))
            scope.setdefault("state", {})["session"] = session
            if session is None and not is_public(path):
                await self._login_page(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
        finally:
            quiet = path.startswith(("/fragments/", "/static/"))  # the live refresh asks every second
            logger.log(
                "DEBUG" if quiet else "INFO",
                "ui: {} {} {} {:.0f} ms",
                scope["method"],
                mask(path),
                status_box.get("status", "-"),
                (time.monotonic() - started) * 1000,
            )

    async def _login_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.requests import Request

        if scope["method"] != "GET" or scope["path"].startswith(("/api/", "/fragments/")):
            await _plain(send, 401, "Ui.request: log in first (open the /login address rpa ui printed).")
            return
        response = self.templates.TemplateResponse(
            Request(scope, receive), "login.html", {"error": None, "session": None}, status_code=401
        )
        await response(scope, receive, send)


def _cookie(header: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is the same as none
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def make_templates() -> Jinja2Templates:
    from engine.ui import filters

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True, finalize=mask
    )  # every value a template prints passes through mask
    filters.install(env)
    return Jinja2Templates(env=env)


def create_app(config: UiConfig, settings: Settings | None = None) -> Starlette:
    from engine.history import History
    from engine.jobs import JobStore
    from engine.ui.launch import Launcher
    from engine.ui.routes import routes
    from engine.ui.views import register_known_secrets

    settings = (settings or get_settings()).ensure()
    register_secret(config.token)
    register_known_secrets(settings)
    templates = make_templates()
    sessions = Sessions(config.token)
    app = Starlette(routes=routes())
    app.state.config = config
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.templates = templates
    app.state.history = History(settings)
    app.state.jobs = JobStore(settings)
    app.state.launcher = Launcher()
    return Guard(app, config, sessions, templates)  # type: ignore[return-value]


def bind(config: UiConfig) -> tuple[socket.socket, UiConfig]:
    """Listen now (port 0 picks a free one), so the printed address already answers."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as err:
        sock.close()
        raise ConfigError(
            f"Ui.start: cannot listen on {config.host}:{config.port} ({err.strerror}). "
            "Pick another --port, or stop what uses it."
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock, replace(config, port=sock.getsockname()[1])


def serve(config: UiConfig, settings: Settings | None = None, *, announce: Any = None) -> None:
    """Serve until Ctrl+C / SIGTERM. ``announce(url)`` is told the address once it answers."""
    import uvicorn

    sock, config = bind(config)
    app = create_app(config, settings)
    host = f"[{config.host}]" if ":" in config.host else config.host
    url = f"{config.scheme}://{host}:{config.port}/login"
    uv = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
    )
    server = uvicorn.Server(uv)
    (announce or (lambda u: print(u, file=sys.stdout, flush=True)))(url)
    server.run(sockets=[sock])
