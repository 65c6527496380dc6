"""Turn the raw event stream of a recording into a plan: merge typing into fills, fold link
navigations into expectations, lift typed values into params and sensitive ones into secrets."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from engine.plan.models import Action, Expect, Param, Plan, Step, Target

ATTENTION = "NEEDS ATTENTION: "


class RecordedAction(BaseModel):
    """One user action after locator choice; ``field`` identifies the element for merging."""

    seq: int
    kind: str  # click, fill, select, check, uncheck, press, upload, download, goto, nav, dialog, note
    url: str = ""
    target: Target | None = None
    verified: bool = True
    el: dict[str, Any] = Field(default_factory=dict)
    value: str | None = None
    note: str | None = None
    popup: bool = False
    frame: bool = False


def snake(text: str, fallback: str = "value") -> str:
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text or ""))
    name = "_".join(w.lower() for w in words)[:40].strip("_")
    if not name:
        return fallback
    return name if not name[0].isdigit() else f"{fallback}_{name}"


def url_regex(url: str) -> str:
    """Path (and query keys are ignored): stable across ports and hosts of the same app."""
    path = urlsplit(url).path or "/"
    return re.escape(path) + r"(?:[?#]|$)"


def _field_key(a: RecordedAction) -> str:
    return f"{a.url.split('#')[0]}|{a.el.get('css')}"


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def merge(actions: list[RecordedAction]) -> list[RecordedAction]:
    """Drop repeated fills of one field (Enter flush + change + stop flush) and fold navigations."""
    out: list[RecordedAction] = []
    for a in sorted(actions, key=lambda x: x.seq):
        if a.kind == "fill":
            # Same field filled again with only presses/other fills of it in between: keep the last value.
            for prev in reversed(out):
                if prev.kind == "fill" and _field_key(prev) == _field_key(a):
                    prev.value = a.value
                    a = None  # type: ignore[assignment]
                    break
                if prev.kind not in {"press"}:
                    break
            if a is None:
                continue
        if a.kind == "nav":
            last = out[-1] if out else None
            if last is None:
                a.kind = "goto"
            elif last.kind in {"click", "press", "goto", "select", "check", "uncheck", "download"} and not last.el.get("_nav"):
                # The first navigation after an action is its effect (server redirects collapse into one).
                if a.url.split("#")[0] != (last.value if last.kind == "goto" else "").split("#")[0]:
                    last.el["_nav"] = a.url
                continue
            else:
                a.kind = "goto"  # typed into the address bar, or script-driven
        if a.kind == "download":
            # Playwright reports the download after the click that caused it.
            for prev in reversed(out):
                if prev.kind == "click":
                    prev.kind = "download"
                    prev.value = a.value
                    a = None  # type: ignore[assignment]
                    break
            if a is None:
                continue
            a.kind = "note"
            a.note = f"a download ({a.value}) started without a recorded click"
        if a.kind == "dialog" and out:
            out[-1].note = "; ".join(x for x in (out[-1].note, a.note) if x)
            continue
        out.append(a)
    return out


def build_plan(
    actions: list[RecordedAction],
    *,
    name: str,
    store_secret: Callable[[str, str], str],
    notes: list[str] | None = None,
) -> Plan:
    """``store_secret(suggested_name, value) -> name used`` keeps secret values out of the plan."""
    steps: list[Step] = []
    params: dict[str, Param] = {}
    secrets: list[str] = []
    hosts: list[str] = []
    names: set[str] = set()
    outputs: set[str] = set()
    plan_notes = list(notes or [])
    for a in merge(actions):
        for u in (a.url, a.el.get("_nav"), a.value if a.kind == "goto" else None):
            host = urlsplit(u or "").hostname
            if host and host not in hosts:
                hosts.append(host)
        step = _step(a, len(steps) + 1, params, secrets, names, outputs, store_secret)
        if step is None:
            plan_notes.append(a.note or a.kind)
            continue
        steps.append(step)
    description = " ".join(f"{ATTENTION}{n}." for n in plan_notes)
    if not steps:
        raise ValueError("nothing was recorded")
    return Plan(
        name=name, description=description, params=params, secrets=secrets,
        allowed_domains=hosts, steps=steps,
    )


def _label(a: RecordedAction) -> str:
    el = a.el
    return el.get("label") or el.get("name") or el.get("placeholder") or el.get("field_name") or el.get("title") or ""


def _step(
    a: RecordedAction, n: int, params: dict[str, Param], secrets: list[str], names: set[str],
    outputs: set[str], store_secret: Callable[[str, str], str],
) -> Step | None:
    attention: list[str] = []
    if not a.verified and a.target is not None:
        attention.append("no locator matched exactly one element when recorded; check the target")
    if a.frame:
        attention.append(f"inside an iframe ({a.url}); the target may need the frame")
    if a.popup:
        attention.append(f"in a popup window ({a.url})")
    if a.note:
        attention.append(a.note)
    label = _label(a)
    kw: dict[str, Any] = {"id": f"s{n}"}
    if a.kind == "goto":
        kw.update(action=Action.goto, value=a.value or a.url, description=f"open {a.value or a.url}")
    elif a.kind == "fill":
        value = a.value or ""
        if a.el.get("sensitive"):
            sname = store_secret(snake(label or "password", "password").upper(), value)
            if sname not in secrets:
                secrets.append(sname)
            kw.update(action=Action.fill, target=a.target, value=f"{{{{ secrets.{sname} }}}}",
                      description=f"fill {label or 'the field'} (secret)")
        else:
            pname = _unique(snake(label, "value"), names)
            params[pname] = Param(default=value)
            kw.update(action=Action.fill, target=a.target, value=f"{{{{ params.{pname} }}}}",
                      description=f"fill {label or 'the field'}")
    elif a.kind in {"select", "check", "uncheck", "click"}:
        kw.update(action=Action(a.kind), target=a.target, description=f"{a.kind} {label or a.el.get('text') or ''}".strip())
        if a.kind == "select":
            kw["value"] = a.value or ""
    elif a.kind == "press":
        kw.update(action=Action.press, value=a.value or "Enter", description=f"press {a.value}")
        if a.target is not None and a.el.get("tag") not in {"body", "html"}:
            kw["target"] = a.target
    elif a.kind == "upload":
        pname = _unique(snake(label, "file") if label else "upload_file", names)
        params[pname] = Param(default=a.value or "", description="path of the file to upload")
        kw.update(action=Action.upload, target=a.target, value=f"{{{{ params.{pname} }}}}",
                  description=f"upload {a.value}")
    elif a.kind == "download":
        out = snake((a.value or "download").rsplit(".", 1)[0], "download")
        out = _unique(out if out[0].isalpha() else f"download_{out}", outputs)
        kw.update(action=Action.download, target=a.target, output=out, description=f"download {a.value}")
    elif a.kind == "click_nothing":
        attention.append("click on an element that is not interactive; delete the step if it was not needed")
        kw.update(action=Action.click, target=a.target, description="click")
    else:
        return None
    nav = a.el.get("_nav")
    if nav:
        kw["expect"] = Expect(url=url_regex(nav))
    if attention:
        kw["description"] = ATTENTION + "; ".join(attention) + (f" ({kw.get('description')})" if kw.get("description") else "")
    return Step(**kw)
