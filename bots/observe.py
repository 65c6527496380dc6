"""What the page looks like to a planner: a compact, frozen list of elements with short refs.

``observe(page)`` reads the page in one ``page.evaluate`` round trip (``observe.js``) and returns an
``Observation``: the interactive controls and informative text blocks, each with a ref (``e1``,
``e2``...), and a ``selector_map`` from each ref to a ``Target`` (role + name first when it is
unique, then label, placeholder, test id, text, and a short CSS path last). The planner chooses
refs; plans store the targets, so a plan replays without the planner. Page text is untrusted
data: it is shown to the model quoted, and nothing in it is ever executed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.plan.models import Locator, Target

_JS = (Path(__file__).with_name("observe.js")).read_text(encoding="utf-8")
# Roles Playwright's get_by_role understands; anything else is located by text or CSS.
_ARIA_ROLES = {
    "button", "link", "checkbox", "radio", "textbox", "searchbox", "combobox", "listbox", "option",
    "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "switch", "treeitem", "spinbutton",
    "slider", "heading", "cell", "listitem", "img",
}
MAX_ELEMENTS = 300


class Element(BaseModel):
    """One thing on the page. ``kind`` is ``control`` (can be acted on) or ``text`` (to read)."""

    model_config = ConfigDict(frozen=True)

    ref: str
    kind: str
    role: str
    name: str = ""
    tag: str = ""
    text: str = ""
    label: str = ""
    near: str = Field("", description="Text next to a control without a label of its own.")
    value: str | None = None
    type: str | None = None
    placeholder: str | None = None
    test_id: str | None = None
    id: str | None = None
    title: str | None = None
    alt: str | None = None
    href: str | None = None
    checked: bool | None = None
    disabled: bool = False
    expanded: bool | None = None
    selected: bool | None = None
    options: tuple[str, ...] | None = None
    hint: str = Field("", description="Words of the id, name and class attributes (icons have no name).")
    context: str = Field("", description="Text of the nearest enclosing block (the row or card).")
    container: bool = Field(False, description="A control that holds other controls (a dialog, a row).")
    css: str = ""
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    fingerprint: str = ""

    @property
    def editable(self) -> bool:
        return self.role in ("textbox", "searchbox", "spinbutton") or (
            self.role == "combobox" and self.tag == "input")

    @property
    def selectable(self) -> bool:
        return self.tag == "select"

    @property
    def checkable(self) -> bool:
        return self.role in ("checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio")

    @property
    def words(self) -> str:
        """Everything a person could call this element by."""
        parts = [self.name, self.label, self.near, self.placeholder or "", self.title or "", self.alt or ""]
        if len(self.name) < 3:
            parts.append(self.hint)
        return " ".join(p for p in parts if p)

    def line(self) -> str:
        """One prompt line: ``[e3] button "Sign in"`` plus value and state."""
        role = self.role if self.kind == "control" else ("heading" if self.role == "heading" else "text")
        out = f'[{self.ref}] {role} "{_quote(self.name)}"'
        if self.label and self.label != self.name:
            out += f' label="{_quote(self.label)}"'
        elif self.near and self.near != self.name:
            out += f' near="{_quote(self.near)}"'
        if not self.name and self.hint:
            out += f' hint="{_quote(self.hint)}"'
        if self.placeholder and self.placeholder != self.name:
            out += f' placeholder="{_quote(self.placeholder)}"'
        if self.value is not None and self.type != "password":
            out += f' value="{_quote(self.value)}"'
        if self.options:
            out += " options=" + "|".join(_quote(o) for o in self.options[:12])
        for state in ("checked", "expanded", "selected"):
            if getattr(self, state) is True:
                out += f" {state}"
        if self.disabled:
            out += " disabled"
        return out


class Observation(BaseModel):
    """A snapshot of one page: elements, their locators and a signature of the page's shape."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    url: str
    title: str = ""
    elements: tuple[Element, ...]
    selector_map: dict[str, Target]
    truncated: bool = False

    def element(self, ref: str) -> Element:
        for el in self.elements:
            if el.ref == ref:
                return el
        raise KeyError(ref)

    @property
    def controls(self) -> list[Element]:
        return [e for e in self.elements if e.kind == "control" and not e.disabled]

    def signature(self) -> str:
        """Hash of the controls' roles and names: two visits of one page share it."""
        text = "\n".join(f"{e.role}:{e.name}" for e in self.elements if e.kind == "control")
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_prompt(self, max_tokens: int = 1500) -> str:
        """One line per element, cut to about ``max_tokens`` (4 characters a token)."""
        budget = max_tokens * 4
        lines: list[str] = []
        for el in self.elements:
            line = el.line()
            budget -= len(line) + 1
            if budget < 0:
                lines.append("[...] (more elements not shown)")
                break
            lines.append(line)
        return "\n".join(lines)


def _quote(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")[:100]


def _fingerprint(item: dict[str, Any]) -> str:
    raw = "|".join(str(item.get(k) or "") for k in ("css", "tag", "role", "id", "attrs", "name", "text"))
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _locators(item: dict[str, Any], counts: dict[str, Counter[str]]) -> list[Locator]:
    """Ordered locators: each kind only where it is unique among what we observed."""
    out: list[Locator] = []
    role, name = item["role"], item["name"]
    if role in _ARIA_ROLES and name and counts["role"][f"{role}\x00{name}"] == 1:
        out.append(Locator(role=role, name=name, exact=True))
    if item.get("label") and counts["label"][item["label"]] == 1:
        out.append(Locator(label=item["label"], exact=True))
    if item.get("placeholder") and counts["placeholder"][item["placeholder"]] == 1:
        out.append(Locator(placeholder=item["placeholder"], exact=True))
    if item.get("test_id") and counts["test_id"][item["test_id"]] == 1:
        out.append(Locator(test_id=item["test_id"]))
    if item["kind"] == "text" and item.get("text") and counts["text"][item["text"]] == 1:
        out.append(Locator(text=item["text"], exact=True))
    if item.get("css"):
        out.append(Locator(css=item["css"]))
    if not out:  # cannot happen with a CSS path, but a target must not be empty
        out.append(Locator(css=item.get("tag") or "body"))
    return out[:4]


def _near_from_text_before(items: list[dict[str, Any]]) -> None:
    """A control with no label of its own takes the text just before it (above or to the left)."""
    for i, it in enumerate(items):
        if it["kind"] != "control" or it.get("label") or it.get("near") or it.get("tag") not in ("input", "select", "textarea"):
            continue
        for prev in reversed(items[max(0, i - 2):i]):
            if prev["kind"] != "text":
                break
            (x, y, _, h), (px, py, _, ph) = it.get("box") or (0, 0, 0, 0), prev.get("box") or (0, 0, 0, 0)
            if 0 <= y - py <= max(40, 2 * ph) or (abs(y - py) <= h and px < x):
                it["near"] = prev["name"][:60]
                break


def build_observation(raw: dict[str, Any]) -> Observation:
    """Turn the script's raw items into an ``Observation`` (pure: unit-testable without a browser)."""
    items = list(raw.get("items") or [])
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("role", "label", "placeholder", "test_id", "text")}
    for it in items:
        counts["role"][f"{it['role']}\x00{it['name']}"] += 1
        for k in ("label", "placeholder", "test_id", "text"):
            if it.get(k):
                counts[k][it[k]] += 1
    _near_from_text_before(items)
    elements: list[Element] = []
    selector_map: dict[str, Target] = {}
    for i, it in enumerate(items, start=1):
        ref = f"e{i}"
        fields = {k: v for k, v in it.items() if k in Element.model_fields and v is not None}
        fields["options"] = tuple(it["options"]) if it.get("options") else None
        fields["box"] = tuple(it.get("box") or (0, 0, 0, 0))
        elements.append(Element(ref=ref, fingerprint=_fingerprint(it), **fields))
        selector_map[ref] = Target(_locators(it, counts))
    return Observation(url=raw.get("url", ""), title=raw.get("title", ""), elements=tuple(elements),
                       selector_map=selector_map, truncated=bool(raw.get("truncated")))


async def observe(page: Any, max_elements: int = MAX_ELEMENTS) -> Observation:
    """Observe ``page`` (a Playwright page or frame) in one round trip. A page that navigates meanwhile (a
    click's form post still loading) is observed once its new document has loaded."""
    for _ in range(2):
        try:
            return build_observation(await page.evaluate(_JS, max_elements))
        except Exception as err:  # noqa: BLE001 - only a navigation in flight is waited out
            if "context was destroyed" not in str(err):
                raise
            try:
                await page.wait_for_load_state("load", timeout=5000)
            except Exception:  # noqa: BLE001 - a frame has no load state of its own: observe again anyway
                pass
    return build_observation(await page.evaluate(_JS, max_elements))
