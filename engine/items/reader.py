"""Read an items file (CSV, XLSX or JSON lines) into rows; every problem names ``file:line``.

The file is only read, never written. Values come back as text (``None`` for an empty cell), except
JSON lines' lists and objects, which stay as they are so that binding can refuse them by name.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.items.models import ItemsTable, Row

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MAX_BYTES = 200_000_000


def items_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"Items.read: {path.name} is not an items file (suffix '{path.suffix}'). "
            "Use .csv, .xlsx or .jsonl."
        )
    return fmt


def read_items(path: str | Path, *, sheet: str | None = None, allow_empty: bool = False) -> ItemsTable:
    """Rows of ``path``; ``allow_empty`` (the daemon) accepts a file with no rows yet."""
    path = Path(path)
    fmt = items_format(path)
    if sheet is not None and fmt != "xlsx":
        raise ConfigError(
            f"Items.read: --sheet only applies to XLSX workbooks, not {path.name}. Drop --sheet."
        )
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ConfigError(
            f"Items.read: cannot read {path} ({err.strerror or err}). Check the path."
        ) from None
    if size > MAX_BYTES:
        raise ConfigError(
            f"Items.read: {path.name} is {size} bytes, above {MAX_BYTES}. Split it into smaller files."
        )
    if fmt == "xlsx":
        table = _read_xlsx(path, sheet)
    else:
        data = path.read_bytes()
        table = _read_csv(path, data) if fmt == "csv" else _read_jsonl(path, data)
    if not table.rows and not allow_empty:
        what = "is empty" if not table.columns else "has a header but no rows"
        raise ConfigError(f"Items.read: {path.name} {what}. Add one row per item.")
    return table


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"Items.read: {path.name}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}). "
            "Save the file as UTF-8."
        ) from None


def _header(path: Path, names: list[Any], line: int, where: str) -> list[str]:
    columns: list[str] = []
    for i, raw in enumerate(names, start=1):
        name = "" if raw is None else str(raw).strip()
        if not name:
            raise ConfigError(
                f"Items.read: {where}:{line}: column {i} of the header has no name. "
                "Name every column after a param of the plan."
            )
        if name in columns:
            raise ConfigError(
                f"Items.read: {where}:{line}: column '{name}' appears twice in the header. "
                "Rename or remove one."
            )
        columns.append(name)
    return columns


# -- CSV ------------------------------------------------------------------------------------------
def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv(path: Path, data: bytes) -> ItemsTable:
    text = _text(path, data)
    if not text.strip():
        return ItemsTable(path=path, format="csv", columns=[], rows=[])
    delim = _delimiter(path, text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    columns: list[str] | None = None
    rows: list[Row] = []
    while True:
        start = reader.line_num + 1  # the line a record starts on (quoted fields may span lines)
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise ConfigError(
                f"Items.read: {path.name}:{start}: malformed CSV ({err}). Check the quotes on that line."
            ) from None
        if not record or all(not c.strip() for c in record):
            continue  # blank lines are not items
        if columns is None:
            columns = _header(path, record, start, path.name)
            continue
        if len(record) > len(columns) and all(not c.strip() for c in record[len(columns) :]):
            record = record[: len(columns)]  # trailing separators some exporters add
        if len(record) != len(columns):
            raise ConfigError(
                f"Items.read: {path.name}:{start}: {len(record)} fields where the header has "
                f"{len(columns)}. Fix that line (a value with '{delim}' needs quotes)."
            )
        rows.append(Row(line=start, values={c: (v if v.strip() else None) for c, v in zip(columns, record)}))
    return ItemsTable(path=path, format="csv", columns=columns or [], rows=rows)


# -- JSON lines -----------------------------------------------------------------------------------
def _read_jsonl(path: Path, data: bytes) -> ItemsTable:
    text = _text(path, data)
    columns: list[str] = []
    rows: list[Row] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"Items.read: {path.name}:{n}: not JSON ({err.msg} at column {err.colno}). "
                "Each line must be one JSON object."
            ) from None
        if not isinstance(obj, dict):
            raise ConfigError(
                f"Items.read: {path.name}:{n}: a JSON {type(obj).__name__}, not an object. "
                'Each line must be one object such as {"invoice": "INV-1001"}.'
            )
        values: dict[str, Any] = {}
        for key, value in obj.items():
            name = str(key).strip()
            if not name:
                raise ConfigError(
                    f"Items.read: {path.name}:{n}: a key with no name. Name every key after a param."
                )
            if name not in columns:
                columns.append(name)
            values[name] = _scalar(value)
        rows.append(Row(line=n, values=values))
    return ItemsTable(path=path, format="jsonl", columns=columns, rows=rows)


def _scalar(value: Any) -> Any:
    """JSON scalars as the text a param gets; lists and objects are kept for binding to refuse."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return value


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# -- XLSX -----------------------------------------------------------------------------------------
def _read_xlsx(path: Path, sheet: str | None) -> ItemsTable:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as err:
        raise ConfigError(
            f"Items.read: {path.name} is not an XLSX workbook ({type(err).__name__}: {err}). "
            "Save it from Excel or LibreOffice as .xlsx."
        ) from None
    try:
        names = book.sheetnames
        if sheet is None and len(names) > 1:
            raise ConfigError(
                f"Items.read: {path.name} has {len(names)} sheets ({', '.join(names)}). "
                "Name one with --sheet NAME."
            )
        if sheet is not None and sheet not in names:
            raise ConfigError(
                f"Items.read: {path.name} has no sheet '{sheet}' (it has {', '.join(names)}). "
                "Pass one of those to --sheet."
            )
        name = sheet or names[0]
        where = f"{path.name}[{name}]"
        columns: list[str] | None = None
        rows: list[Row] = []
        for n, cells in enumerate(book[name].iter_rows(values_only=True), start=1):
            values = [_cell(c) for c in cells]
            if all(v is None for v in values):
                continue
            if columns is None:
                while values and values[-1] is None:
                    values.pop()  # formatted but empty cells at the right of the header
                columns = _header(path, values, n, where)
                continue
            extra = [v for v in values[len(columns) :] if v is not None]
            if extra:
                raise ConfigError(
                    f"Items.read: {where}:{n}: a value right of the last named column "
                    f"('{extra[0]}'). Name that column or clear the cell."
                )
            values += [None] * (len(columns) - len(values))
            rows.append(Row(line=n, values=dict(zip(columns, values))))
        return ItemsTable(
            path=path,
            format="xlsx",
            sheet=name if len(names) > 1 or sheet else None,
            columns=columns or [],
            rows=rows,
        )
    finally:
        book.close()


def _cell(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, int, float)):
        return _scalar(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None
