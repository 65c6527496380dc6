"""Who may use the dashboard: one access token, session cookies, CSRF tokens, TLS beyond loopback.

The token (``RPA_UI_TOKEN``, or one generated at start and printed once) is exchanged at
``/login`` for a random session id in an HttpOnly, SameSite=Strict cookie; sessions live in this
process only, so a restart logs everyone out. Every state change is a POST carrying the session's
CSRF token. Only ``/login`` and ``/static/`` (CSS and the polling script, no data) answer without a
session; everything else gets 401 and the login page.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.errors import ConfigError

COOKIE = "rpa_ui_session"
SESSION_IDLE_S = 12 * 3600
MIN_TOKEN_CHARS = 16
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = ("/login",)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class UiConfig:
    """How ``rpa ui`` serves: address, token, TLS files and where the bot plans are."""

    host: str = "127.0.0.1"
    port: int = 8700
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    token_generated: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    plan_dirs: tuple[Path, ...] = ()

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def make_config(
    host: str,
    port: int,
    *,
    token: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    plan_dirs: tuple[Path, ...] = (),
) -> UiConfig:
    """Check what ``rpa ui`` was given: beyond loopback it needs TLS files and a token the user chose."""
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("Ui.start: TLS needs both --tls-cert and --tls-key (RPA_TLS_CERT, RPA_TLS_KEY).")
    for label, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path and not Path(path).is_file():
            raise ConfigError(f"Ui.start: {label} file '{path}' not found.")
    if not is_loopback(host):
        if not tls_cert:
            raise ConfigError(
                f"Ui.start: {host} is reachable from other machines, so TLS is required. Pass "
                "--tls-cert and --tls-key (RPA_TLS_CERT, RPA_TLS_KEY; see docs/cluster.md), or "
                "bind to 127.0.0.1."
            )
        if not token:
            raise ConfigError(
                f"Ui.start: binding to {host} needs a token you chose. Export RPA_UI_TOKEN=<at least "
                f"{MIN_TOKEN_CHARS} random characters>."
            )
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"Ui.start: RPA_UI_TOKEN is shorter than {MIN_TOKEN_CHARS} characters. Choose a longer "
            "random one (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)."
        )
    base = UiConfig(
        host=host,
        port=port,
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        plan_dirs=plan_dirs,
    )
    return replace(base, token=token, token_generated=False) if token else base


@dataclass
class Session:
    id: str
    csrf: str
    last_seen: float
    notice: str | None = None  # what the last action did, shown once by the next page (not in the URL)


class Sessions:
    """Sessions of this process: random ids, each with its own CSRF token, dropped after 12 h idle."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def token_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self._token.encode())

    def create(self) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), last_seen=time.monotonic()
        )
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > SESSION_IDLE_S:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def allowed_hosts(config: UiConfig) -> set[str] | None:
    """Host headers a loopback server answers (DNS rebinding); ``None``: any (bound wider, with TLS)."""
    if not is_loopback(config.host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]", config.host if ":" not in config.host else f"[{config.host}]"}
    return {f"{n}:{config.port}" for n in names} | names


SECURITY_HEADERS = {
    # Our pages use our own CSS and one script from /static, nothing else; no framing; no referrer to
    # other sites (the login URL carries the token). "no-referrer" would make form posts say Origin: null.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
