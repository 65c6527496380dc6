"""OUT: one row per item (its own columns, status, error, the run's outputs, attempt, report), and
the producer side of a queue (``--emit-items``).

OUT is rewritten whole, atomically (a temporary file beside it, then ``os.replace``), each time items
finish, so a person can open it at any moment and never sees half a file. Emitted rows carry
``_source`` (the producing run's id) and a run's rows are appended at most once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.items.models import ItemView
from engine.logs import mask
from engine.plan import Plan

OUT_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FIXED = ("status", "error_kind", "error")
TRAILING = ("attempt", "run_id", "report")
XLSX_CELL_MAX = 32_767


def out_format(path: Path) -> str:
    fmt = OUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"Items.output: {path.name} has no output format (suffix '{path.suffix}'). "
            "Use .csv, .xlsx or .jsonl."
        )
    return fmt


def plan_outputs(plan: Plan) -> list[str]:
    return [s.output for s in plan.steps if s.output]


def columns(item_columns: list[str], outputs: list[str]) -> tuple[list[str], dict[str, str]]:
    """OUT's header, and for each field of ours the column it got (``rpa_status`` when the items
    file has a ``status`` column itself)."""
    taken = list(item_columns)
    names: dict[str, str] = {}
    for field in (*FIXED, *(f"output:{o}" for o in outputs), *TRAILING):
        base = field.split(":", 1)[-1]
        name = (
            base
            if base not in taken
            else (f"output_{base}" if field.startswith("output:") else f"rpa_{base}")
        )
        names[field] = name
        taken.append(name)
    return taken, names


def out_rows(
    views: Iterable[ItemView], item_columns: list[str], outputs: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    header, names = columns(item_columns, outputs)
    rows = []
    for v in views:
        if not v.present:
            continue
        row: dict[str, Any] = {c: v.values.get(c) for c in item_columns}
        row[names["status"]] = v.state.value
        row[names["error_kind"]] = v.error_kind
        row[names["error"]] = mask(v.error) if v.error else None
        for o in outputs:
            row[names[f"output:{o}"]] = v.outputs.get(o)
        row[names["attempt"]] = v.attempt or None
        row[names["run_id"]] = v.run_id
        row[names["report"]] = v.report
        rows.append(row)
    return header, rows


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_temporaries(path: Path) -> None:
    """Temporary files a killed writer left beside OUT."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_output(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    fmt = out_format(path)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_flat(row.get(c)) for c in header])
        data = buf.getvalue().encode("utf-8")
        _atomic_write(path, lambda out: out.write(data))
    elif fmt == "jsonl":
        data = "".join(
            json.dumps({c: row.get(c) for c in header}, ensure_ascii=False, default=str) + "\n"
            for row in rows
        ).encode("utf-8")
        _atomic_write(path, lambda out: out.write(data))
    else:
        _atomic_write(path, lambda out: _xlsx(out, header, rows))


def _xlsx(out: Any, header: list[str], rows: list[dict[str, Any]]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("items")

    def cell(value: Any) -> Any:
        text = _flat(value)[:XLSX_CELL_MAX]
        c = WriteOnlyCell(sheet, value=text)
        c.data_type = "s"  # a page's "=HYPERLINK(...)" stays text, never a formula
        return c

    sheet.append([cell(h) for h in header])
    for row in rows:
        sheet.append([cell(row.get(c)) for c in header])
    book.save(out)


# -- producer / consumer --------------------------------------------------------------------------
def rows_of(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows a run produced: each output that is a list of objects (an ``extract: table``)."""
    rows: list[dict[str, Any]] = []
    for value in outputs.values():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            rows.extend(value)
    return rows


def column_name(header: Any) -> str:
    """A table header as a param name: ``Due date`` -> ``due_date``."""
    return re.sub(r"\W+", "_", str(header)).strip("_").lower() or "col"


def emitted_sources(path: Path) -> set[str]:
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("_source"), str):
            found.add(obj["_source"])
    return found


def emit_rows(path: Path, run_id: str, rows: list[dict[str, Any]], *, seen: set[str] | None = None) -> int:
    """Append ``rows`` as JSON lines tagged ``_source=run_id``, unless that run's rows are there already
    (a producer killed after appending but before recording it emits nothing twice)."""
    if not rows:
        return 0
    seen = emitted_sources(path) if seen is None else seen
    if run_id in seen:
        return 0
    data = "".join(
        json.dumps(
            {"_source": run_id, **{column_name(k): v for k, v in r.items()}}, ensure_ascii=False, default=str
        )
        + "\n"
        for r in rows
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    seen.add(run_id)
    return len(rows)
