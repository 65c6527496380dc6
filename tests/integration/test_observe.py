"""bots.observe on real Chromium: refs, roles, names, states, and locators that find the element."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bots.observe import observe
from bots.browser import launch
from bots.locate import resolve

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html><head><title>Form</title></head><body>
<h1>Order form</h1>
<p class="msg">Fill in the form below.</p>
<label for="name">Full name</label><input id="name" value="Ann">
<input placeholder="Search here" type="search">
<label><input type="checkbox" id="news" checked> Newsletter</label>
<select id="dept" aria-label="Department"><option>Sales</option><option selected>IT</option></select>
<button>Save</button><button disabled>Delete</button>
<a href="/help">Help</a><a href="/help2">Help</a>
<div id="card"><span class="icon-trash" style="display:inline-block;width:12px;height:12px" onclick="this.textContent='gone'"></span> Row one</div>
<div style="display:none"><button>Hidden</button></div>
<div class="titlebar" onmousedown="void 0"><button onclick="this.textContent='Closed'">Close</button></div>
<input type="hidden" name="csrf" value="x">
</body></html>"""


@pytest.fixture(scope="module")
def site():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PAGE.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


async def test_observe_a_form(site: str) -> None:
    async with launch() as browser:
        page = await browser.new_page()
        await page.goto(site)
        obs = await observe(page)
        by_name = {(e.role, e.name): e for e in obs.elements}
        name = by_name[("textbox", "Full name")]
        assert name.value == "Ann" and name.label == "Full name"
        assert by_name[("searchbox", "Search here")].placeholder == "Search here"
        assert by_name[("checkbox", "Newsletter")].checked is True
        dept = by_name[("combobox", "Department")]
        assert dept.value == "IT" and dept.options == ("Sales", "IT")
        assert by_name[("button", "Delete")].disabled is True
        assert ("heading", "Order form") in by_name and ("text", "Fill in the form below.") in by_name
        icon = next(e for e in obs.elements if "trash" in e.hint)
        assert icon.kind == "control" and "Row one" in icon.context
        assert not any(e.name == "Hidden" for e in obs.elements)
        assert not any(e.type == "hidden" for e in obs.elements)
        # A handler-only wrapper named by the button inside it is not a second "Close".
        assert [e.role for e in obs.elements if e.name == "Close"] == ["button"]
        lines = obs.to_prompt().splitlines()
        assert '[e' in lines[0] and any('button "Save"' in ln for ln in lines)
        # Every element's target finds exactly that element on the live page.
        for el in obs.elements:
            if el.kind != "control":
                continue
            loc = (await resolve(page, obs.selector_map[el.ref], step_id=el.ref, timeout_ms=2000)).locator
            assert await loc.evaluate("e => e.tagName.toLowerCase()") == el.tag
        # Duplicate names: the first locator of a "Help" link is not role+name.
        helps = [e for e in obs.elements if e.name == "Help"]
        assert all(obs.selector_map[h.ref].locators[0].kind != "role" for h in helps)
        assert obs.selector_map[by_name[("button", "Save")].ref].locators[0].describe() == 'role=button[name="Save"]'
        await page.close()
