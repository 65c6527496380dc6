"""OUT in CSV, XLSX and JSON lines (read back with the items reader), and rows emitted for a consumer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from engine.errors import ConfigError
from engine.items.models import ItemState, ItemView
from engine.items.output import columns, emit_rows, out_rows, rows_of, write_output
from engine.items.reader import read_items


def views() -> list[ItemView]:
    return [
        ItemView(
            job_id="a",
            line=2,
            position=0,
            values={"invoice": "INV-1", "status": "new"},
            state=ItemState.succeeded,
            attempt=1,
            run_id="r1",
            outputs={"total": "930.00", "rows": [{"n": 1}]},
            report="/r1.html",
        ),
        ItemView(
            job_id="b",
            line=3,
            position=1,
            values={"invoice": '=HYPERLINK("x")'},
            state=ItemState.failed_business,
            attempt=1,
            run_id="r2",
            error_kind="business",
            error="Step 'open': HTTP 404",
        ),
        ItemView(job_id="c", line=4, position=2, values={"invoice": "INV-3"}, state=ItemState.pending),
        ItemView(
            job_id="gone",
            line=9,
            position=3,
            values={"invoice": "INV-9"},
            state=ItemState.pending,
            present=False,
        ),
    ]


def test_our_columns_step_aside_for_the_items_own() -> None:
    header, names = columns(["invoice", "status", "total"], ["total", "rows"])
    assert header == [
        "invoice",
        "status",
        "total",
        "rpa_status",
        "error_kind",
        "error",
        "output_total",
        "rows",
        "attempt",
        "run_id",
        "report",
    ]
    assert names["status"] == "rpa_status"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl"])
def test_out_round_trips_through_the_reader(tmp_path: Path, suffix: str) -> None:
    header, rows = out_rows(views(), ["invoice", "status"], ["total", "rows"])
    path = tmp_path / f"out{suffix}"
    write_output(path, header, rows)
    back = read_items(path)
    assert back.columns == header
    got = [r.values for r in back.rows]
    assert [g["invoice"] for g in got] == ["INV-1", '=HYPERLINK("x")', "INV-3"]  # the gone item is not listed
    assert [g["rpa_status"] for g in got] == ["succeeded", "failed_business", "pending"]
    assert got[0]["total"] == "930.00" and got[1]["error_kind"] == "business"
    assert got[1]["error"] == "Step 'open': HTTP 404" and got[0]["attempt"] in ("1", 1)
    if suffix == ".jsonl":
        assert got[0]["rows"] == [{"n": 1}]  # JSON lines keep structure
    else:
        assert json.loads(got[0]["rows"]) == [{"n": 1}]
    assert not list(tmp_path.glob(".out*.tmp"))


def test_xlsx_never_holds_a_formula(tmp_path: Path) -> None:
    header, rows = out_rows(views(), ["invoice", "status"], [])
    write_output(tmp_path / "out.xlsx", header, rows)
    sheet = load_workbook(tmp_path / "out.xlsx").active
    cell = sheet.cell(row=3, column=1)
    assert cell.value == '=HYPERLINK("x")' and cell.data_type == "s"


def test_unknown_out_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Use .csv, .xlsx or .jsonl"):
        write_output(tmp_path / "out.txt", ["a"], [])


def test_a_runs_rows_are_emitted_once(tmp_path: Path) -> None:
    path = tmp_path / "next.jsonl"
    rows = rows_of({"invoices": [{"Number": "INV-1", "Due date": "2026-01-01"}], "count": "1 found"})
    assert emit_rows(path, "run-1", rows) == 1
    assert emit_rows(path, "run-1", rows) == 0  # a producer killed before it recorded the emit
    assert emit_rows(path, "run-2", rows) == 1
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines == [
        {"_source": "run-1", "number": "INV-1", "due_date": "2026-01-01"},
        {"_source": "run-2", "number": "INV-1", "due_date": "2026-01-01"},
    ]
    assert rows_of({"x": [1, 2], "y": []}) == []
