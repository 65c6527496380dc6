"""The sandbox web server: standard library only, one daemon thread, many concurrent bots.

Sessions are kept per cookie, so every browser context gets its own login and form submissions.
``flaky`` injects slow responses and transient HTTP 500s into page requests (never into static
assets or downloads, and never more than ``MAX_STREAK`` times in a row for the same request, so a
retry always gets through); ``drift`` swaps the page skin (see ``skin.py``).
"""

from __future__ import annotations

import random
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from loguru import logger
from pydantic import BaseModel, Field

from bots.sandbox import pages
from bots.sandbox.data import find_invoice, invoice_csv, invoice_pdf, search
from bots.sandbox.skin import Skin
from engine.errors import ConfigError

USERS = {"alice": "wonderland"}
COOKIE = "sandbox_session"
MAX_STREAK = 2  # at most this many injected 500s in a row for one request
MAX_BODY = 5 * 1024 * 1024
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
LOGIN_REQUIRED = ("/", "/invoices", "/form")


class SandboxStats(BaseModel):
    """A snapshot of what the server has seen since it started."""

    requests: int = 0
    pages: int = 0
    failures: int = 0
    slow: int = 0
    not_found: int = 0
    logins: int = 0
    bad_logins: int = 0
    submissions: int = 0
    downloads: int = 0


@dataclass
class Session:
    user: str | None = None
    results: dict[str, dict[str, str]] = field(default_factory=dict)


class Visit(BaseModel):
    """One request the site answered: its access log, what a check of the site's own state reads."""

    method: str
    path: str
    query: dict[str, str] = Field(default_factory=dict)
    status: int
    user: str | None = None


class Chaos:
    """Seeded decisions for ``flaky``: ("ok" | "slow" | "error", seconds to wait)."""

    def __init__(self, p: float, seed: int | None, slow: tuple[float, float]) -> None:
        self.p = p
        self.slow = slow
        self._rng = random.Random(seed)
        self._streak: dict[str, int] = {}
        self._lock = threading.Lock()

    def decide(self, key: str) -> tuple[str, float]:
        if self.p <= 0:
            return "ok", 0.0
        with self._lock:
            if self._rng.random() >= self.p:
                self._streak.pop(key, None)
                return "ok", 0.0
            if self._streak.get(key, 0) >= MAX_STREAK or self._rng.random() < 0.5:
                self._streak.pop(key, None)
                return "slow", self._rng.uniform(*self.slow)
            self._streak[key] = self._streak.get(key, 0) + 1
            return "error", 0.0


class Site:
    """All state of one sandbox server; shared by its handler threads under one lock."""

    def __init__(self, *, flaky: float, drift: bool, seed: int | None, slow: tuple[float, float],
                 signed_in: str | None = None) -> None:
        self.skin = Skin(drift=drift)
        self.chaos = Chaos(flaky, seed, slow)
        self.signed_in = signed_in  # a visitor without a session is this user
        self.visits: list[Visit] = []
        self.logouts: list[str] = []
        self._sessions: dict[str, Session] = {}
        self._stats = SandboxStats()
        self._refs = 0
        self._lock = threading.Lock()

    def count(self, **deltas: int) -> None:
        with self._lock:
            for name, n in deltas.items():
                setattr(self._stats, name, getattr(self._stats, name) + n)

    def stats(self) -> SandboxStats:
        with self._lock:
            return self._stats.model_copy()

    def session(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._sessions.get(sid or "")

    def login(self, user: str) -> str:
        sid = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions[sid] = Session(user=user)
        return sid

    def logout(self, sid: str | None) -> None:
        with self._lock:
            gone = self._sessions.pop(sid or "", None)
            if gone is not None and gone.user:
                self.logouts.append(gone.user)

    def visit(self, visit: Visit) -> None:
        with self._lock:
            self.visits.append(visit)

    def signed_in_users(self) -> list[str]:
        with self._lock:
            return [s.user for s in self._sessions.values() if s.user]

    def requests(self) -> list[dict[str, str]]:
        """Every request submitted through the form, in every session."""
        with self._lock:
            return [values for s in self._sessions.values() for values in s.results.values()]

    def own_session(self, sid: str | None) -> Session:
        """Signed-in mode: a visitor without a session works as ``signed_in`` (in a session of its own
        cookie, so that it keeps its results)."""
        with self._lock:
            return self._sessions.setdefault(f"visitor:{sid or ''}", Session(user=self.signed_in))

    def add_result(self, session: Session, ref: str, values: dict[str, str]) -> None:
        with self._lock:
            session.results[ref] = values

    def new_reference(self) -> str:
        with self._lock:
            self._refs += 1
            return f"REF-{self._refs:06d}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: Site) -> None:
        self.site = site
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    # Open keep-alive connections are tracked so that a stopped sandbox really is down for browsers.
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that drops a keep-alive connection (or a sandbox stopped under it) is not an error
        # worth a traceback on the user's terminal; anything else goes to the log, not to stderr.
        logger.opt(exception=True).debug("sandbox: request from {} ended with an error", client_address)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _redirect(location: str, **headers: str) -> _Response:
    return _Response(303, headers={"Location": location, **headers})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the overhead benchmark makes many small requests
    timeout = 30
    server: _HTTPServer
    server_version = "Sandbox/1"

    # -- plumbing -----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        logger.debug("sandbox: {}", format % args)

    def _handle(self, method: str) -> None:
        site = self.server.site
        site.count(requests=1)
        url = urlsplit(self.path)
        body = self._read_body() if method == "POST" else b""
        if body is None:
            return self._send(_Response(413, b"Request too large"))
        sid = self._cookie()
        try:
            resp = self._static(url.path)
            if resp is None:
                resp = self._chaos(method, url.path, url.query, sid)
            if resp is None:
                resp = self._route(method, url.path, parse_qs(url.query), body, sid)
        except Exception:  # a bug in the sandbox must not kill the server thread
            logger.exception("sandbox: error handling {} {}", method, self.path)
            resp = _Response(500, b"Internal error")
        session = site.session(sid)
        site.visit(Visit(method=method, path=url.path, query={k: v[0] for k, v in parse_qs(url.query).items()},
                         status=resp.status, user=session.user if session else site.signed_in))
        self._send(resp)

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _cookie(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                return value
        return None

    def _send(self, resp: _Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _html(self, status: int, html: str, **headers: str) -> _Response:
        return _Response(status, html.encode(), headers=headers)

    # -- flaky and static ---------------------------------------------------------------------

    def _static(self, path: str) -> _Response | None:
        if path == "/favicon.ico":
            return _Response(204, content_type="image/x-icon")
        if path == "/healthz":
            return _Response(200, b"ok", content_type="text/plain")
        return None

    def _chaos(self, method: str, path: str, query: str, sid: str | None) -> _Response | None:
        site = self.server.site
        if path.endswith((".csv", ".pdf")):
            return None  # downloads are not pages
        site.count(pages=1)
        verdict, delay = site.chaos.decide(f"{sid}|{method}|{path}?{query}")
        if verdict == "slow":
            site.count(slow=1)
            time.sleep(delay)
        elif verdict == "error":
            site.count(failures=1)
            page = pages.message_page(site.skin, "Temporary error", "Temporary error, try again.")
            return self._html(500, page, Connection="close")
        return None

    # -- routes -------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, sid: str | None) -> _Response:
        site = self.server.site
        session = site.session(sid)
        if session is None and site.signed_in and path not in ("/login", "/logout"):
            session = site.own_session(sid)
        user = session.user if session else None
        if path == "/login":
            return self._login(method, query, body, user)
        if path == "/logout":
            site.logout(sid)
            return _redirect("/login?signed_out=1", **{"Set-Cookie": f"{COOKIE}=; Path=/; Max-Age=0"})
        if path == "/notes":
            return self._html(200, pages.notes_page(site.skin, user))
        if user is None or session is None:
            if path in LOGIN_REQUIRED or path.startswith(("/invoices/", "/form/")):
                return _redirect("/login?next=" + quote(self.path, safe="/"))
            return self._not_found(None)
        if path == "/":
            return self._html(200, pages.home_page(site.skin, user))
        if path == "/invoices":
            return self._invoices(query, user)
        if path.startswith("/invoices/"):
            return self._invoice(path.removeprefix("/invoices/"), user)
        if path == "/form":
            native = query.get("confirm", [""])[0] == "native"
            if method == "POST":
                return self._submit(body, user, session, native)
            return self._html(200, pages.form_page(site.skin, user, native_confirm=native))
        if path.startswith("/form/result/"):
            ref = path.removeprefix("/form/result/")
            if ref in session.results:
                return self._html(200, pages.result_page(site.skin, user, ref, session.results[ref]))
            return self._html(404, pages.message_page(site.skin, "Request not found",
                                                      f"No request {ref} in this session.", user=user))
        return self._not_found(user)

    def _not_found(self, user: str | None) -> _Response:
        self.server.site.count(not_found=1)
        return self._html(404, pages.message_page(self.server.site.skin, "Page not found",
                                                  "There is no page at this address.", user=user))

    def _login(self, method: str, query: dict[str, list[str]], body: bytes, user: str | None) -> _Response:
        site = self.server.site
        next_url = query.get("next", [""])[0]
        if method == "GET":
            if user:
                return _redirect(_safe_next(next_url))
            return self._html(200, pages.login_page(site.skin, next_url=next_url,
                                                    signed_out="signed_out" in query))
        form = parse_qs(body.decode("utf-8", "replace"))
        name = form.get("username", [""])[0].strip()
        password = form.get("password", [""])[0]
        next_url = form.get("next", [next_url])[0]
        if USERS.get(name) != password or not password:
            site.count(bad_logins=1)
            page = pages.login_page(site.skin, next_url=next_url, error=True, username=name)
            return self._html(401, page)
        site.count(logins=1)
        sid = site.login(name)
        return _redirect(_safe_next(next_url), **{"Set-Cookie": f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"})

    def _invoices(self, query: dict[str, list[str]], user: str) -> _Response:
        q = query.get("q", [""])[0]
        month = query.get("month", [""])[0]
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            page = 1
        rows = search(q, month)
        return self._html(200, pages.invoices_page(self.server.site.skin, user, rows, query=q, month=month, page=page))

    def _invoice(self, rest: str, user: str) -> _Response:
        site = self.server.site
        number, dot, ext = rest.partition(".")
        inv = find_invoice(number)
        if inv is None or (dot and ext not in ("csv", "pdf")):
            site.count(not_found=1)
            page = pages.message_page(site.skin, "Invoice not found", f"There is no invoice {number}.", user=user,
                                      link=f'<p><a href="/invoices">{site.skin.word("back")}</a></p>')
            return self._html(404, page)
        if not dot:
            return self._html(200, pages.invoice_page(site.skin, user, inv))
        site.count(downloads=1)
        data, ctype = (invoice_csv(inv), "text/csv; charset=utf-8") if ext == "csv" else (invoice_pdf(inv), "application/pdf")
        return _Response(200, data, ctype, {"Content-Disposition": f'attachment; filename="{inv.number}.{ext}"'})

    def _submit(self, body: bytes, user: str, session: Session, native: bool) -> _Response:
        site = self.server.site
        values, files = _parse_multipart(self.headers.get("Content-Type", ""), body)
        errors = _validate(values)
        if errors:
            return self._html(422, pages.form_page(site.skin, user, values=values, errors=errors,
                                                   native_confirm=native))
        name, size = files.get("attachment", ("", 0))
        shown = {
            "Full name": values.get("name", ""), "Email": values.get("email", ""), "Phone": values.get("phone", ""),
            "Department": values.get("department", ""), "Priority": values.get("priority", ""),
            "Due date": values.get("due_date", ""), "Comments": values.get("comments", ""),
            "Attachment": f"{name} ({size} bytes)" if name else "",
            "Newsletter": "yes" if values.get("newsletter") else "no", "Terms accepted": "yes",
        }
        ref = site.new_reference()
        site.add_result(session, ref, shown)
        site.count(submissions=1)
        return _redirect(f"/form/result/{ref}")


def _safe_next(next_url: str) -> str:
    """Only same-site paths: ``next`` must never send a user to another host."""
    if next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/invoices"


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    """(text fields, file fields as (file name, size)); also accepts url-encoded bodies."""
    if not content_type.startswith("multipart/"):
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}, {}
    msg = BytesParser(policy=email_policy).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    values: dict[str, str] = {}
    files: dict[str, tuple[str, int]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            if filename:
                files[str(name)] = (filename, len(payload))
        else:
            values[str(name)] = payload.decode("utf-8", "replace")
    return values, files


def _validate(values: dict[str, str]) -> list[str]:
    errors = []
    if not values.get("name", "").strip():
        errors.append("Enter your full name.")
    if not EMAIL_RE.match(values.get("email", "").strip()):
        errors.append("Enter a valid email address.")
    if values.get("department") not in pages.DEPARTMENTS:
        errors.append("Choose a department.")
    if values.get("priority", "Normal") not in pages.PRIORITIES:
        errors.append("Choose a priority.")
    due = values.get("due_date", "")
    if due and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", due):
        errors.append("Enter the due date as YYYY-MM-DD.")
    if not values.get("terms"):
        errors.append("Accept the terms to continue.")
    return errors


class SandboxServer:
    """A running sandbox; stop it with ``.stop()`` or use it as a context manager."""

    def __init__(self, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.drift = httpd.site.skin.drift
        self.flaky = httpd.site.chaos.p

    @property
    def stats(self) -> SandboxStats:
        return self._httpd.site.stats()

    @property
    def site(self) -> Site:
        """The site's own state: its access log (``visits``), sessions, submitted requests."""
        return self._httpd.site

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, flaky={self.flaky}, drift={self.drift})"


def start_sandbox(port: int = 0, *, flaky: float = 0.0, drift: bool = False, seed: int | None = None,
                  host: str = "127.0.0.1", slow: tuple[float, float] = (0.3, 1.5),
                  signed_in: str | None = None) -> SandboxServer:
    """Serve the sandbox on ``host:port`` (0 = a free port) in a daemon thread and return at once.

    ``slow`` is the range of injected delays in seconds (tests shorten it); ``signed_in`` makes a
    visitor without a session that user (for work that is not about signing in).
    """
    if not 0.0 <= flaky <= 1.0:
        raise ConfigError(f"Sandbox.start: flaky must be between 0 and 1, got {flaky}. Pass a probability.")
    site = Site(flaky=flaky, drift=drift, seed=seed, slow=slow, signed_in=signed_in)
    try:
        httpd = _HTTPServer((host, port), site)
    except OSError as err:
        raise ConfigError(f"Sandbox.start: cannot listen on {host}:{port} ({err.strerror}). "
                          "Pick another --port, or 0 for any free port.") from None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"sandbox-{httpd.server_address[1]}", daemon=True)
    thread.start()
    server = SandboxServer(httpd, thread)
    logger.info("sandbox: serving {} (flaky={}, drift={})", server.url, flaky, drift)
    return server


def serve(port: int = 8765, flaky: float = 0.0, drift: bool = False, seed: int | None = None,
          host: str = "127.0.0.1") -> None:
    """Serve in the foreground until Ctrl+C (``rpa sandbox``)."""
    with start_sandbox(port, flaky=flaky, drift=drift, seed=seed, host=host) as server:
        print(f"Sandbox site: {server.url}  (login alice / wonderland; Ctrl+C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("Sandbox stopped.", flush=True)
