"""The domain fence: a bot's browser context reaches only the plan's ``allowed_domains``.

Two layers, because Playwright's request routing alone has holes:

* ``DomainFence.install(context)`` routes every request and WebSocket of the context and watches
  every navigation. Hosts are read with ``urllib``'s ``hostname`` (``http://127.0.0.1:x@evil/``
  goes to ``evil``), schemes other than http(s)/ws(s) are refused (``file:`` only with the plan's
  ``allow_file``; ``about:``, ``data:`` and ``blob:`` carry no network and stay allowed), and the
  final URL of every navigation is checked too. A blocked navigation is a violation
  (``DomainBlockedError``, the run fails); a blocked sub-resource (an image, a fetch, a socket) is
  only refused and logged, as a page may embed third-party assets.
* Routing never sees the hops of a redirect (Playwright intercepts at the browser/network
  boundary, and the network stack follows redirects itself), nor service workers' requests. So
  every context made by ``bots.browser.new_context`` also talks to the network through its own
  ``SocksFence``: a SOCKS5 proxy on 127.0.0.1 that refuses to connect to a host outside the list.
  Chromium sends it every connection of the context (page, frames, workers, WebSockets, redirect
  hops; Playwright proxies loopback too) with the host name as the URL had it, so nothing is
  resolved or reached before the check. This layer is per context, so bots of different plans can
  share one Chromium. Chromium's ``--host-resolver-rules`` would be a fence too (it does apply to IP
  literals), but it is fixed for the whole browser process at launch, and one Chromium serves
  every plan on a machine; it is not used.

Service workers are blocked at ``new_context`` (``service_workers="block"``). An empty
``allowed_domains`` restricts no host (the plan format's meaning since the start); the scheme
rules hold for every plan.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import struct
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from engine.errors import DomainBlockedError, SchemeBlockedError

WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# No network and no local files behind these: the browser's own blank, inline and error pages.
INERT_SCHEMES = frozenset({"about", "data", "blob", "chrome-error"})
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
CONNECT_TIMEOUT_S = 30.0
_NOT_WEB = re.compile(r"^(?!https?:|wss?:)")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _entry(entry: str) -> tuple[str, int | None]:
    """``example.com``, ``.example.com``, ``example.com:8080``, ``[::1]:8080`` -> (host, port or None)."""
    parts = urlsplit("//" + entry.strip().lower().lstrip("."))
    return (parts.hostname or "").rstrip("."), parts.port


def host_allowed(host: str, port: int | None, allowed: list[str]) -> bool:
    """``example.com`` allows itself and its subdomains on any port; ``example.com:8080`` only that
    port; an IP address only itself. An empty list allows every host."""
    if not allowed:
        return True
    host = host.lower().strip("[]").rstrip(".")
    for entry in allowed:
        try:
            ehost, eport = _entry(entry)
        except ValueError:  # a port that is not a number: allows nothing
            continue
        if not ehost or (eport is not None and eport != port):
            continue
        if host == ehost or (not _is_ip(ehost) and host.endswith("." + ehost)):
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    """Why a URL is refused: ``host`` (outside the list) or ``scheme`` (not a web scheme)."""

    url: str
    reason: str  # "host" | "scheme"
    what: str  # the host, or the scheme with its colon


def check_url(url: str, allowed: list[str], *, allow_file: bool = False) -> Verdict | None:
    """None when ``url`` may be loaded; else why not. Unparsable URLs are refused."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in INERT_SCHEMES or (scheme == "file" and allow_file):
            return None
        if scheme not in WEB_SCHEMES:
            return Verdict(url, "scheme", f"{scheme}:")
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:  # a port out of range, a bracket left open
        return Verdict(url, "host", url[:80])
    if not host:
        return Verdict(url, "host", url[:80])
    return None if host_allowed(host, port, allowed) else Verdict(url, "host", host)


class DomainFence:
    """``fence = DomainFence(plan.allowed_domains, allow_file=plan.allow_file)``;
    ``await fence.install(context)``; after each step, ``fence.violation(step_id)``."""

    def __init__(self, allowed: list[str], *, allow_file: bool = False) -> None:
        self.allowed = [a for a in (x.strip() for x in allowed) if a]
        self.allow_file = allow_file
        self.violations: list[Verdict] = []  # navigations refused: each one fails the run
        self.blocked: list[Verdict] = []  # every refusal, sub-resources included
        self._pages: weakref.WeakSet[Any] = weakref.WeakSet()

    def check(self, url: str) -> Verdict | None:
        return check_url(url, self.allowed, allow_file=self.allow_file)

    def allows_host(self, host: str, port: int) -> bool:
        return host_allowed(host, port, self.allowed)

    async def install(self, context: Any) -> None:
        # With no host list only other schemes need routing (file: is the one Chromium routes).
        await context.route("**/*" if self.allowed else _NOT_WEB, self._route)
        await context.route_web_socket(lambda url: self.check(url) is not None, self._refuse_socket)
        context.on("page", self._watch)
        context.on("request", self._request)
        context.on("requestfailed", self._request_failed)
        for page in context.pages:
            self._watch(page)
        socks = socks_of(context)
        if socks is not None:
            socks.fence = self

    def violation(self, step_id: str | None = None) -> DomainBlockedError | None:
        """The first refused navigation as the run's error, or None."""
        if not self.violations:
            return None
        first = self.violations[0]
        if first.reason == "scheme":
            return SchemeBlockedError(step_id, first.url)
        return DomainBlockedError(step_id, first.what, self.allowed)

    # -- what the context does ------------------------------------------------------------------

    def _refuse(self, verdict: Verdict, navigation: bool, how: str) -> None:
        self.blocked.append(verdict)
        if navigation and verdict not in self.violations:
            self.violations.append(verdict)
        logger.warning("fence: refused {} {} ({}; allowed: {})", "navigation to" if navigation else "request to",
                       verdict.what, how, self.allowed or "any host")

    async def _route(self, route: Any) -> None:
        request = route.request
        verdict = self.check(request.url)
        if verdict is None:
            await route.fallback()
            return
        self._refuse(verdict, _is_navigation(request), "routed request")
        await route.abort("blockedbyclient")

    async def _refuse_socket(self, ws: Any) -> None:
        verdict = self.check(ws.url) or Verdict(ws.url, "host", ws.url[:80])
        self._refuse(verdict, False, "WebSocket")
        await ws.close(code=1008, reason="blocked by the domain fence")

    def _request(self, request: Any) -> None:
        # A redirect hop: routing never saw it (the SOCKS layer refuses its connection).
        if request.redirected_from is not None and (verdict := self.check(request.url)) is not None:
            self._refuse(verdict, _is_navigation(request), "redirect")

    def _request_failed(self, request: Any) -> None:
        verdict = self.check(request.url)
        if verdict is not None and _is_navigation(request) and verdict not in self.violations:
            self._refuse(verdict, True, f"failed: {request.failure}")

    def _watch(self, page: Any) -> None:
        if page in self._pages:
            return
        self._pages.add(page)
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame: Any) -> None:
        # Every navigation's final URL (redirects included), also those routing never sees (chrome:).
        verdict = self.check(frame.url)
        if verdict is not None:
            self._refuse(verdict, True, "navigated")


def _is_navigation(request: Any) -> bool:
    try:
        return bool(request.is_navigation_request())
    except Exception:  # noqa: BLE001 - a request of a frame that is gone: count it as one
        return True


# -- the socket layer ----------------------------------------------------------------------------

_SOCKS: weakref.WeakKeyDictionary[Any, SocksFence] = weakref.WeakKeyDictionary()


def socks_of(context: Any) -> SocksFence | None:
    return _SOCKS.get(context)


def bind_socks(context: Any, socks: SocksFence) -> None:
    """The context's connections go through ``socks``; it closes with the context."""
    _SOCKS[context] = socks
    context.on("close", lambda _c: socks.close())


class SocksFence:
    """A SOCKS5 proxy (CONNECT only, no authentication) on 127.0.0.1 for one browser context.

    Until a ``DomainFence`` is installed on its context it connects anywhere (a context used
    without a plan); then only to hosts the fence allows, refusing others with reply 2
    ("connection not allowed by ruleset")."""

    def __init__(self) -> None:
        self.fence: DomainFence | None = None
        self.refused: list[tuple[str, int]] = []
        # Why a connection failed, as Chromium would name it without a proxy (it reports only
        # ERR_SOCKS_CONNECTION_FAILED): see ``real_net_error``.
        self.failures: dict[tuple[str, int], str] = {}
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def start(cls) -> SocksFence:
        socks = cls()
        socks._server = await asyncio.start_server(socks._client, "127.0.0.1", 0)
        return socks

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def playwright_proxy(self) -> dict[str, str]:
        return {"server": f"socks5://127.0.0.1:{self.port}"}

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    def allows(self, host: str, port: int) -> bool:
        return self.fence is None or self.fence.allows_host(host, port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            target = await _handshake(reader, writer)
            if target is None:
                return
            host, port = target
            if not self.allows(host, port):
                self.refused.append((host, port))
                self.failures[(host, port)] = "ERR_BLOCKED_BY_CLIENT"
                logger.warning("fence: refused a connection to {}:{} (not in allowed domains)", host, port)
                await _reply(writer, 2)
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as err:
                self.failures[(host, port)] = _net_code(err)
                await _reply(writer, _socks_code(err))
                return
            self.connections += 1
            self._writers.add(up_writer)
            await _reply(writer, 0)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the browser hung up mid-handshake: nothing to answer
        finally:
            self._writers.discard(writer)
            writer.close()


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int] | None:
    version, count = await reader.readexactly(2)
    await reader.readexactly(count)
    if version != 5:
        return None
    writer.write(b"\x05\x00")  # no authentication
    _, command, _, kind = await reader.readexactly(4)
    if kind == 1:
        host = socket.inet_ntoa(await reader.readexactly(4))
    elif kind == 3:
        host = (await reader.readexactly((await reader.readexactly(1))[0])).decode("idna")
    elif kind == 4:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    else:
        await _reply(writer, 8)  # address type not supported
        return None
    port = struct.unpack("!H", await reader.readexactly(2))[0]
    if command != 1:
        await _reply(writer, 7)  # only CONNECT: no BIND, no UDP
        return None
    return host, port


async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
    writer.write(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    await writer.drain()


def _net_code(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "ERR_CONNECTION_REFUSED"
    if isinstance(err, socket.gaierror):
        return "ERR_NAME_NOT_RESOLVED"
    if isinstance(err, TimeoutError):
        return "ERR_CONNECTION_TIMED_OUT"
    if isinstance(err, ConnectionResetError):
        return "ERR_CONNECTION_RESET"
    return "ERR_ADDRESS_UNREACHABLE"


def real_net_error(context: Any, text: str) -> str:
    """``net::ERR_SOCKS_CONNECTION_FAILED at URL`` with the code Chromium would have said without
    the fence proxy (connection refused, host not found, blocked), so error messages stay exact."""
    socks = socks_of(context)
    m = re.search(r"net::ERR_SOCKS_CONNECTION_FAILED at (\S+)", text)
    if socks is None or m is None:
        return text
    try:
        parts = urlsplit(m.group(1))
        key = ((parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(parts.scheme, 80))
    except ValueError:
        return text
    code = socks.failures.get(key)
    return text.replace("ERR_SOCKS_CONNECTION_FAILED", code) if code else text


def _socks_code(err: BaseException) -> int:
    if isinstance(err, ConnectionRefusedError):
        return 5
    if isinstance(err, socket.gaierror):
        return 4
    return 1


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
