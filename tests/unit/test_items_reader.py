"""Items files as users write them: CSV (quotes, BOM, separators), XLSX sheets, JSON lines; every
problem is one line naming file:line."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from engine.errors import ConfigError
from engine.items.reader import read_items


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def book(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_csv_quotes_bom_blank_lines_and_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.csv", '\ufeffinvoice,note\nINV-1001,"a, b"\n\n"INV-1002","two\nlines"\nINV-1003,\n'
    )
    table = read_items(path)
    assert table.columns == ["invoice", "note"]
    assert [(r.line, r.values) for r in table.rows] == [
        (2, {"invoice": "INV-1001", "note": "a, b"}),
        (4, {"invoice": "INV-1002", "note": "two\nlines"}),
        (6, {"invoice": "INV-1003", "note": None}),
    ]


def test_csv_semicolons_and_trailing_separators(tmp_path: Path) -> None:
    table = read_items(write(tmp_path / "in.csv", "invoice;amount\nINV-1;1,50;\n"))
    assert table.rows[0].values == {"invoice": "INV-1", "amount": "1,50"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("invoice,note\nINV-1,a\nINV-2,a,b\n", "in.csv:3: 3 fields where the header has 2"),
        ("invoice,note\nINV-1\n", "in.csv:2: 1 fields where the header has 2"),
        ('invoice,note\nINV-1,a\nINV-2,"open\n', "in.csv:3: malformed CSV"),
        ("invoice,,note\nINV-1,a,b\n", "in.csv:1: column 2 of the header has no name"),
        ("invoice,invoice\nINV-1,a\n", "in.csv:1: column 'invoice' appears twice"),
        ("", "in.csv is empty"),
        ("\n\n", "in.csv is empty"),
        ("invoice\n", "in.csv has a header but no rows"),
    ],
)
def test_bad_csv_is_one_line_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_items(write(tmp_path / "in.csv", text))
    assert message in err.value.message and "\n" not in err.value.message
    assert err.value.message.startswith("Items.read: ")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"in.csv:3: not UTF-8"):
        read_items(write(tmp_path / "in.csv", b"invoice\nINV-1\nINV-\xe9\n"))


def test_header_only_is_fine_for_the_daemon(tmp_path: Path) -> None:
    assert read_items(write(tmp_path / "in.csv", "invoice\n"), allow_empty=True).rows == []


def test_xlsx_values_become_text(tmp_path: Path) -> None:
    path = book(
        tmp_path / "in.xlsx",
        {
            "Items": [
                ["invoice", "qty", "price", "due", "paid", None],
                ["INV-1", 3, 2.5, datetime(2026, 1, 5), True, None],
                [None, None, None, None, None],
                ["INV-2", 4.0, None, date(2026, 2, 1), False],
            ]
        },
    )
    table = read_items(path)
    assert table.columns == ["invoice", "qty", "price", "due", "paid"]
    assert [(r.line, r.values) for r in table.rows] == [
        (2, {"invoice": "INV-1", "qty": "3", "price": "2.5", "due": "2026-01-05", "paid": "true"}),
        (4, {"invoice": "INV-2", "qty": "4", "price": None, "due": "2026-02-01", "paid": "false"}),
    ]


def test_xlsx_with_several_sheets_needs_sheet(tmp_path: Path) -> None:
    path = book(
        tmp_path / "in.xlsx", {"Jan": [["invoice"], ["INV-1"]], "Feb": [["invoice"], ["INV-2"], ["INV-3"]]}
    )
    with pytest.raises(ConfigError, match=r"in.xlsx has 2 sheets \(Jan, Feb\)\. Name one with --sheet NAME"):
        read_items(path)
    table = read_items(path, sheet="Feb")
    assert [r.values["invoice"] for r in table.rows] == ["INV-2", "INV-3"]
    assert table.where(3) == "in.xlsx[Feb]:3"
    with pytest.raises(ConfigError, match="has no sheet 'Mar'"):
        read_items(path, sheet="Mar")


def test_xlsx_value_outside_the_header_and_broken_book(tmp_path: Path) -> None:
    path = book(tmp_path / "in.xlsx", {"S": [["invoice"], ["INV-1", "stray"]]})
    with pytest.raises(ConfigError, match=r"in.xlsx\[S\]:2|in.xlsx:2"):
        read_items(path)
    with pytest.raises(ConfigError, match="is not an XLSX workbook"):
        read_items(write(tmp_path / "bad.xlsx", b"not a zip"))


def test_jsonl_objects_scalars_and_errors(tmp_path: Path) -> None:
    lines = [
        {"invoice": "INV-1", "qty": 2, "ok": True, "tags": ["a"]},
        {"invoice": "INV-2", "price": 2.5, "note": None},
    ]
    path = write(tmp_path / "in.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    table = read_items(path)
    assert table.columns == ["invoice", "qty", "ok", "tags", "price", "note"]
    assert table.rows[0].values == {"invoice": "INV-1", "qty": "2", "ok": "true", "tags": ["a"]}
    assert table.rows[1].values == {"invoice": "INV-2", "price": "2.5", "note": None}
    with pytest.raises(ConfigError, match=r"in.jsonl:2: not JSON"):
        read_items(write(tmp_path / "in.jsonl", '{"invoice": "INV-1"}\n{"invoice": \n'))
    with pytest.raises(ConfigError, match=r"in.jsonl:1: a JSON list, not an object"):
        read_items(write(tmp_path / "in.jsonl", '["INV-1"]\n'))


def test_suffix_and_sheet_on_csv(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Use .csv, .xlsx or .jsonl"):
        read_items(write(tmp_path / "in.xls", "x"))
    with pytest.raises(ConfigError, match="--sheet only applies to XLSX"):
        read_items(write(tmp_path / "in.csv", "invoice\nINV-1\n"), sheet="S")
    with pytest.raises(ConfigError, match="cannot read"):
        read_items(tmp_path / "missing.csv")
