"""The domain fence against a real second host: every way out of the allowed domains is tried from
real Chromium, and the host on 127.0.0.2 must accept 0 connections."""

from __future__ import annotations

import asyncio

import pytest

from bots.browser import BrowserConfig, new_context
from bots.fence import DomainFence, SocksFence, bind_socks, check_url, host_allowed
from engine.errors import DomainBlockedError, FailureKind, SchemeBlockedError
from tests.integration.two_hosts import TwoHosts

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def hosts():
    h = TwoHosts()
    yield h
    h.stop()


@pytest.fixture
async def fenced(browser, hosts):
    """A context made the framework's way (SOCKS fence) with ``allowed_domains: [127.0.0.1]``."""
    hosts.outside.reset()
    context = await new_context(browser)
    fence = DomainFence(["127.0.0.1"])
    await fence.install(context)
    yield context, fence
    await context.close()


async def _try(coro) -> str:
    try:
        await coro
        return "ok"
    except Exception as err:  # noqa: BLE001 - the escape failing is the point
        return str(err).splitlines()[0]


async def _body_text(page) -> str:
    for _ in range(50):  # a refused goto is followed by Chromium's error page: read what settles
        try:
            await page.wait_for_load_state()
            return await page.evaluate("document.body ? document.body.innerText : ''")
        except Exception:  # noqa: BLE001 - the error page replaced the document meanwhile
            await asyncio.sleep(0.1)
    raise AssertionError("the page never settled")


def test_host_rules():
    assert host_allowed("127.0.0.1", 80, ["127.0.0.1"]) and not host_allowed("127.0.0.2", 80, ["127.0.0.1"])
    assert host_allowed("a.example.com", 443, ["example.com"]) and host_allowed("example.com.", 1, ["example.com"])
    assert not host_allowed("badexample.com", 443, ["example.com"])
    assert host_allowed("example.com", 8080, ["example.com:8080"]) and not host_allowed("example.com", 80, ["example.com:8080"])
    assert not host_allowed("1.127.0.0.1", 80, ["127.0.0.1"])  # IPs allow only themselves
    assert host_allowed("::1", 80, ["[::1]"]) and host_allowed("anything", 1, [])
    allowed = ["127.0.0.1"]
    assert check_url("http://127.0.0.1:x@127.0.0.2:8000/", allowed).what == "127.0.0.2"
    assert check_url("http://127.0.0.1:8000/", allowed) is None
    assert check_url("ws://127.0.0.2/", allowed).what == "127.0.0.2"
    assert check_url("file:///etc/hostname", []).reason == "scheme"
    assert check_url("file:///etc/hostname", [], allow_file=True) is None
    assert check_url("chrome://version/", allowed).what == "chrome:"
    assert check_url("data:text/html,hi", allowed) is None and check_url("about:blank", allowed) is None
    assert check_url("http://127.0.0.1:99999/", allowed) is not None  # a bad port is no way round


async def test_redirect_to_another_host(fenced, hosts):
    context, fence = fenced
    page = await context.new_page()
    said = await _try(page.goto(f"{hosts.url}/redirect"))
    assert said != "ok"
    assert hosts.outside.count == 0, hosts.outside.paths
    err = fence.violation("open")
    assert isinstance(err, DomainBlockedError) and err.kind is FailureKind.domain_blocked
    assert "'127.0.0.2'" in err.message


@pytest.mark.parametrize("how", ["plan", "script"])
async def test_userinfo_url(fenced, hosts, how):
    context, fence = fenced
    page = await context.new_page()
    userinfo = f"http://127.0.0.1:x@127.0.0.2:{hosts.outside.port}/"
    if how == "plan":
        assert await _try(page.goto(userinfo)) != "ok"
    else:
        await _try(page.goto(f"{hosts.url}/script-userinfo"))
        await page.wait_for_timeout(300)
    assert hosts.outside.count == 0
    assert fence.violation() is not None and fence.violation().host == "127.0.0.2"


@pytest.mark.parametrize("path", ["/socket", "/socket-userinfo", "/fetch", "/img-redirect", "/iframe", "/sw"])
async def test_sub_resources_never_leave(fenced, hosts, path):
    context, fence = fenced
    page = await context.new_page()
    await page.goto(f"{hosts.url}{path}")
    done = await page.evaluate("window.done || null")
    await page.wait_for_timeout(300)
    assert done not in ("open", "ok"), done
    if path == "/sw":  # Playwright's "block" makes register() a no-op
        assert await page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
    assert hosts.outside.count == 0, hosts.outside.paths
    if path == "/iframe":  # a frame is a navigation: the run fails
        assert fence.violation() is not None
    else:
        assert fence.blocked or path == "/sw"


async def test_popup_and_form(fenced, hosts):
    context, fence = fenced
    page = await context.new_page()
    await page.goto(f"{hosts.url}/popup")
    await page.wait_for_timeout(500)
    await page.goto(f"{hosts.url}/form")
    await _try(page.get_by_role("button", name="Send").click())
    await page.wait_for_timeout(300)
    assert hosts.outside.count == 0
    assert fence.violation() is not None


async def test_file_urls_need_allow_file(browser, hosts, tmp_path):
    local = tmp_path / "local.txt"
    secret = "local-file-content-7f3a"
    local.write_text(secret)
    for allow in (False, True):
        context = await new_context(browser)
        fence = DomainFence([], allow_file=allow)
        await fence.install(context)
        page = await context.new_page()
        said = await _try(page.goto(local.as_uri()))
        text = await _body_text(page)
        if allow:
            assert said == "ok" and secret in text and fence.violation() is None
        else:
            assert said != "ok" and secret not in text
            err = fence.violation("read")
            assert isinstance(err, SchemeBlockedError) and "allow_file: true" in err.message
        await context.close()
    context = await new_context(browser)
    fence = DomainFence(["127.0.0.1"])
    await fence.install(context)
    page = await context.new_page()
    await _try(page.goto("chrome://version"))
    assert isinstance(fence.violation(), SchemeBlockedError)
    await context.close()


async def test_empty_allowed_domains_restricts_no_host(browser, hosts):
    hosts.outside.reset()
    context = await new_context(browser)
    await DomainFence([]).install(context)
    page = await context.new_page()
    assert await _try(page.goto(f"{hosts.url}/redirect")) == "ok"
    assert hosts.outside.count >= 1
    await context.close()


async def test_socket_layer_alone_stops_a_redirect(browser, hosts):
    """Routing never sees a redirect's hop; the SOCKS fence refuses its connection by itself."""
    hosts.outside.reset()
    socks = await SocksFence.start()
    context = await browser.new_context(proxy=socks.playwright_proxy)
    bind_socks(context, socks)
    socks.fence = DomainFence(["127.0.0.1"])  # the host rule only: no routes installed
    page = await context.new_page()
    assert await page.goto(f"{hosts.url}/") is not None and socks.connections >= 1
    assert await _try(page.goto(f"{hosts.url}/redirect")) != "ok"
    assert hosts.outside.count == 0 and socks.refused and socks.refused[0][0] == "127.0.0.2"
    await context.close()
    await asyncio.sleep(0)


async def test_allowed_pages_still_work(fenced, hosts):
    context, fence = fenced
    page = await context.new_page()
    await page.goto(f"{hosts.url}/login")
    await page.fill("#u", "alice")
    await page.fill("#p", "pw")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/done")
    assert await page.inner_text("h1") == "Welcome"
    assert fence.violation() is None and not fence.blocked
    assert BrowserConfig().service_workers == "block" and BrowserConfig().socks_fence


async def test_network_errors_keep_their_names(browser):
    from bots.fence import real_net_error

    context = await new_context(browser)
    await DomainFence(["127.0.0.1", "no-such-host.invalid"]).install(context)
    page = await context.new_page()
    said = {}
    for url in ("http://127.0.0.1:5999/", "http://no-such-host.invalid/", "http://127.0.0.2:5999/"):
        said[url] = real_net_error(context, await _try(page.goto(url)))
    assert "net::ERR_CONNECTION_REFUSED at http://127.0.0.1:5999/" in said["http://127.0.0.1:5999/"]
    assert "ERR_NAME_NOT_RESOLVED" in said["http://no-such-host.invalid/"]
    assert "ERR_BLOCKED_BY_CLIENT" in said["http://127.0.0.2:5999/"]
    await context.close()
