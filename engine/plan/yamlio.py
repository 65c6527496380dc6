"""Plan files: YAML in and out, with errors that name the file, the line and the field."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.errors import PlanValidationError
from engine.plan.models import Plan


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Walk the composed YAML tree along a pydantic error location; return a 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node, line = nxt, nxt.start_mark.line + 1
    return line


def _field_path(loc: tuple[Any, ...], data: Any) -> str:
    """``('steps', 2, 'target', ...)`` -> ``steps[2](id=login).target``; pydantic's union tags dropped."""
    parts: list[str] = []
    cur = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(cur, list) and key < len(cur) and isinstance(cur[key], dict) and "id" in cur[key]:
                label += f"(id={cur[key]['id']})"
            parts.append(label)
            cur = cur[key] if isinstance(cur, list) and key < len(cur) else None
        else:
            if isinstance(cur, dict) and key in cur:
                parts.append(("." if parts else "") + str(key))
                cur = cur[key]
            elif key in ("root",) or "[" in str(key) or key.startswith("function-"):
                continue
            else:
                parts.append(("." if parts else "") + str(key))
                cur = None
    return "".join(parts) or "plan"


def _loc_of_named_step(msg: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """Plan-level checks name a step ("step 'x' ..."); point the line at that step."""
    m = re.search(r"step '([^']+)'", msg)
    steps = data.get("steps")
    if m and isinstance(steps, list):
        for i, step in enumerate(steps):
            if isinstance(step, dict) and str(step.get("id")) == m.group(1):
                return ("steps", i)
    return ()


def plan_from_data(data: Any, source: str = "<plan>", node: yaml.Node | None = None) -> Plan:
    """Validate already-parsed data into a Plan, raising one PlanValidationError (the first problem)."""
    if not isinstance(data, dict):
        raise PlanValidationError(source, f"expected a mapping at the top, found {type(data).__name__}", line=1)
    try:
        return Plan.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "enum":
            msg = f"unknown value {first.get('input')!r}: {msg}"
        elif first["type"] == "extra_forbidden":
            msg = f"unknown field '{loc[-1]}'"
            loc = loc[:-1] + (loc[-1],)
        if not loc:
            loc = _loc_of_named_step(msg, data)
        return_line = _line_of(node, loc)
        raise PlanValidationError(source, msg, line=return_line, field=_field_path(loc, data)) from None


def _too_big(source: str, size: int, limit: int) -> PlanValidationError:
    return PlanValidationError(source, f"the file is {size:,} bytes, over the {limit:,}-byte limit for plans. "
                               "Split it, or raise RPA_PLAN_MAX_BYTES if it is really one plan")


def _limit() -> int:
    from engine.config import get_settings

    return get_settings().plan_max_bytes


def parse_plan(text: str, source: str = "<string>") -> Plan:
    """Parse YAML (or JSON, a subset) text into a validated Plan; text over the size limit is refused
    before parsing (YAML of 10 MB takes 25 s and 400 MB to parse)."""
    limit = _limit()
    if len(text) > limit or len(text.encode("utf-8")) > limit:
        raise _too_big(source, len(text.encode("utf-8")), limit)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise PlanValidationError(source, f"malformed YAML: {err.problem}", line=line) from None
    except yaml.YAMLError as err:
        raise PlanValidationError(source, f"malformed YAML: {err}") from None
    return plan_from_data(data, source, node)


def load_plan(path: str | os.PathLike[str]) -> Plan:
    p = Path(path)
    limit = _limit()
    try:
        with p.open("rb") as fh:  # size checked on the open file, and never more than limit+1 bytes read
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            raise _too_big(str(p), p.stat().st_size, limit)
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PlanValidationError(str(p), f"not UTF-8 text (byte {err.start})") from None
    except FileNotFoundError:
        raise PlanValidationError(str(p), "file not found") from None
    except OSError as err:
        raise PlanValidationError(str(p), f"cannot read: {err.strerror}") from None
    return parse_plan(text, str(p))


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literals, keys in model order."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_plan(plan: Plan) -> str:
    data = json.loads(plan.model_dump_json())
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def save_plan(plan: Plan, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write atomically; refuse to replace an existing file unless ``overwrite``.

    The whole text goes to a temporary file first; without ``overwrite`` it is then hard-linked to
    its name, which fails if the name exists, so of two writers racing for one name exactly one wins
    and the other gets the error (an exists() check before a rename lets both "win")."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump_plan(plan))
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, p)
        else:
            _link_exclusive(Path(tmp), p)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return p


def _link_exclusive(tmp: Path, p: Path) -> None:
    exists = PlanValidationError(str(p), "file exists; choose another name or pass overwrite")
    try:
        os.link(tmp, p)
        return
    except FileExistsError:
        raise exists from None
    except OSError as err:  # a file system without hard links: an exclusive create instead
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise exists from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(tmp.read_bytes())


def next_version_path(path: str | os.PathLike[str]) -> Path:
    """``invoices.yaml`` -> first free ``invoices.v2.yaml``, ``invoices.v3.yaml``..."""
    p = Path(path)
    stem = p.stem
    base = stem.rsplit(".v", 1)[0] if ".v" in stem and stem.rsplit(".v", 1)[1].isdigit() else stem
    n = 2
    while (cand := p.with_name(f"{base}.v{n}{p.suffix}")).exists():
        n += 1
    return cand
