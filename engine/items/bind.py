"""Bind rows to a plan's params, and name queues and items by what they are.

Everything a row can get wrong is found here, before any run starts: a column the plan does not
know, a required param no row and no ``--param`` gives, a value of the wrong type. Keys:

* queue: the items file's resolved path, the plan's name and the ``--param`` values;
* item: the queue plus the row's non-empty values (and which copy of an identical row it is), so
  reordering rows changes nothing and editing a row makes a new item.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.items.models import Item, ItemsTable
from engine.plan import Plan

META_PREFIX = "_"  # columns such as `_source` (set by --emit-items) describe the row; they are not params


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def queue_key(items_path: Path, plan: Plan, params: dict[str, str]) -> str:
    return _digest(str(Path(items_path).resolve()), plan.name, json.dumps(params, sort_keys=True))


def queue_id(items_path: Path, plan: Plan, params: dict[str, str]) -> str:
    """Readable and stable: ``invoices-3fa2c1d0`` (the items file's stem and a hash)."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(items_path).stem.lower()).strip("-")[:40] or "items"
    return f"{slug}-{queue_key(items_path, plan, params)[:8]}"


def row_key(values: dict[str, str]) -> str:
    return _digest(json.dumps(values, sort_keys=True, ensure_ascii=False))


def item_job_id(qkey: str, rkey: str, copy: int) -> str:
    """The history's ``job_id`` of the item's runs (copies of an identical row get -2, -3, ...)."""
    return f"item-{qkey[:8]}-{rkey[:16]}" + (f"-{copy}" if copy > 1 else "")


def check_columns(table: ItemsTable, plan: Plan, params: dict[str, str]) -> None:
    unknown = [c for c in table.columns if c not in plan.params and not c.startswith(META_PREFIX)]
    if unknown:
        known = ", ".join(plan.params) or "none"
        raise ConfigError(
            f"Items.bind: column '{unknown[0]}' of {table.path.name} is not a param of plan "
            f"'{plan.name}' (it has: {known}). Rename the column or remove it."
        )
    bad = [k for k in params if k not in plan.params]
    if bad:
        raise ConfigError(
            f"Items.bind: --param {bad[0]} is not a param of plan '{plan.name}' "
            f"(it has: {', '.join(plan.params) or 'none'})."
        )
    for name, spec in plan.params.items():
        if spec.default is None and name not in params and name not in table.columns:
            raise ConfigError(
                f"Items.bind: {table.path.name} has no column '{name}', a param plan '{plan.name}' "
                f"requires. Add the column or pass --param {name}=VALUE."
            )


def bind_items(table: ItemsTable, plan: Plan, params: dict[str, str], qkey: str) -> list[Item]:
    """One ``Item`` per row, in file order; raises ``ConfigError`` naming ``file:line``."""
    check_columns(table, plan, params)
    copies: Counter[str] = Counter()
    items: list[Item] = []
    for position, row in enumerate(table.rows):
        where = table.where(row.line)
        values: dict[str, str] = {}
        for name, value in row.values.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise ConfigError(
                    f"Items.bind: {where}: '{name}' is a JSON {_json_type(value)}; a param takes "
                    "text, a number or true/false. Give it as one value."
                )
            values[name] = value
        merged = {k: v for k, v in params.items()}
        merged.update({k: v for k, v in values.items() if not k.startswith(META_PREFIX)})
        for name, spec in plan.params.items():
            if name not in merged and spec.default is None:
                raise ConfigError(
                    f"Items.bind: {where}: no value for '{name}', a param plan '{plan.name}' "
                    f"requires. Fill the cell or pass --param {name}=VALUE."
                )
            if name in merged:
                _check_type(where, name, merged[name], getattr(spec, "type", None))
        rkey = row_key(values)
        copies[rkey] += 1
        items.append(
            Item(
                job_id=item_job_id(qkey, rkey, copies[rkey]),
                row_key=rkey,
                line=row.line,
                position=position,
                values=values,
                params=merged,
            )
        )
    return items


def _json_type(value: Any) -> str:
    return (
        "list" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__
    )


_TYPES = {
    "int": "integer",
    "integer": "integer",
    "number": "number",
    "float": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "date": "date",
}


def _check_type(where: str, name: str, value: str, declared: Any) -> None:
    """Plans whose params declare a ``type`` get it checked here; a plain param takes any text."""
    kind = _TYPES.get(str(getattr(declared, "value", declared) or "").lower())
    if kind is None:
        return
    ok = True
    try:
        if kind == "integer":
            int(value.strip())
        elif kind == "number":
            float(value.strip())
        elif kind == "boolean":
            ok = value.strip().lower() in ("true", "false", "1", "0", "yes", "no")
        else:
            date.fromisoformat(value.strip())
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"Items.bind: {where}: '{name}' = '{value[:40]}' is not a {kind}, the type plan param "
            f"'{name}' declares. Fix the value."
        )
