"""Two real HTTP servers for trust tests: the site on 127.0.0.1 and an "outside" host on 127.0.0.2
that counts every connection it accepts (a security test passes only when it counts 0)."""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field


@dataclass
class Outside:
    """The host a page must never reach; ``count`` is the number of TCP connections it accepted."""

    port: int = 0
    count: int = 0
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.2:{self.port}"

    def reset(self) -> None:
        with self.lock:
            self.count, self.paths[:] = 0, []


def site_pages(outside: str, userinfo: str) -> dict[str, str]:
    """Pages of the site; each tries one way out toward ``outside``."""
    return {
        "/": "<html><head><title>home</title></head><body><h1>Home</h1><p id='msg'>hello</p></body></html>",
        "/script-userinfo": f"<html><body><script>location.href = {userinfo!r};</script></body></html>",
        "/socket": ("<html><body><h1>socket</h1><script>window.done = new Promise(r => {"
                    f" const w = new WebSocket('{outside.replace('http', 'ws')}/ws');"
                    " w.onopen = () => r('open'); w.onerror = () => r('error'); w.onclose = () => r('closed');"
                    " setTimeout(() => r('timeout'), 3000); });</script></body></html>"),
        "/socket-userinfo": ("<html><body><script>window.done = new Promise(r => {"
                             f" const w = new WebSocket({userinfo.replace('http', 'ws')!r} + 'ws');"
                             " w.onopen = () => r('open'); w.onerror = () => r('error');"
                             " setTimeout(() => r('timeout'), 3000); });</script></body></html>"),
        "/img-redirect": "<html><body><img src='/redirect?img'><h1>img</h1></body></html>",
        "/fetch": (f"<html><body><script>window.done = fetch('{outside}/fetch').then(() => 'ok', () => 'refused');"
                   "</script></body></html>"),
        "/iframe": f"<html><body><h1>frame</h1><iframe src='{outside}/frame'></iframe></body></html>",
        "/popup": f"<html><body><h1>popup</h1><script>window.open('{outside}/popup');</script></body></html>",
        "/form": (f"<html><body><form method='post' action='{outside}/post'><input name='q' value='x'>"
                  "<button>Send</button></form></body></html>"),
        "/sw": ("<html><body><h1>sw</h1><script>window.done = navigator.serviceWorker ? "
                "navigator.serviceWorker.register('/sw.js').then(() => 'registered', e => 'refused: ' + e) "
                ": Promise.resolve('no serviceWorker');</script></body></html>"),
        "/sw.js": f"self.addEventListener('install', e => e.waitUntil(fetch('{outside}/sw')));",
        "/login": ("<html><body><h1>Sign in</h1><form action='/done' method='post'>"
                   "<label for='u'>User</label><input id='u' name='user'>"
                   "<label for='p'>Password</label><input id='p' name='password' type='password'>"
                   "<button type='submit'>Sign in</button></form></body></html>"),
        "/done": "<html><body><h1>Welcome</h1></body></html>",
    }


class TwoHosts:
    """``site`` on 127.0.0.1 (pages above, ``/redirect`` answers 302 to the outside host) and ``outside``."""

    def __init__(self) -> None:
        self.outside = Outside()
        out = self.outside

        class OutsideHandler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with out.lock:
                    out.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<h1>outside</h1>")

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        class CountingServer(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: object, client_address: object) -> bool:
                with out.lock:
                    out.count += 1
                return True

        self._outside = CountingServer(("127.0.0.2", 0), OutsideHandler)
        out.port = self._outside.server_port
        pages = site_pages(out.url, f"http://127.0.0.1:x@127.0.0.2:{out.port}/")
        redirect_to = out.url

        class SiteHandler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"{redirect_to}/leak")
                    self.end_headers()
                    return
                body = pages.get(path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                kind = "text/javascript" if path.endswith(".js") else "text/html"
                self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self._site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
        self._site.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._site.server_port}"
        for server in (self._site, self._outside):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        for server in (self._site, self._outside):
            server.shutdown()
            server.server_close()
