"""Rows bound to a plan's params, and the keys that make a queue resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.items.bind import bind_items, queue_id, queue_key
from engine.items.models import ItemsTable, Row
from engine.plan import parse_plan

PLAN = parse_plan(
    """
name: invoice
params:
  base_url: http://127.0.0.1:8765
  invoice: {description: required}
  note: ""
steps:
  - id: open
    action: goto
    value: "{{ params.base_url }}/invoices/{{ params.invoice }}"
""",
    "invoice.yaml",
)


def table(
    rows: list[dict[str, object]], columns: list[str] | None = None, name: str = "in.csv"
) -> ItemsTable:
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    return ItemsTable(
        path=Path(name),
        format="csv",
        columns=cols,
        rows=[Row(line=i + 2, values=r) for i, r in enumerate(rows)],
    )


def test_plan_has_a_required_param() -> None:
    assert PLAN.params["invoice"].default is None


def test_columns_win_over_params_and_empty_cells_fall_back() -> None:
    items = bind_items(
        table(
            [{"invoice": "INV-1", "base_url": "http://127.0.0.1:1"}, {"invoice": "INV-2", "base_url": None}]
        ),
        PLAN,
        {"base_url": "http://127.0.0.1:2"},
        "k",
    )
    assert items[0].params == {"invoice": "INV-1", "base_url": "http://127.0.0.1:1"}
    assert items[1].params == {"invoice": "INV-2", "base_url": "http://127.0.0.1:2"}
    assert items[1].values == {"invoice": "INV-2"}


@pytest.mark.parametrize(
    ("rows", "params", "message"),
    [
        (
            [{"invoice": "INV-1", "colour": "red"}],
            {},
            "column 'colour' of in.csv is not a param of plan 'invoice'",
        ),
        ([{"note": "x"}], {}, "in.csv has no column 'invoice', a param plan 'invoice' requires"),
        ([{"invoice": "INV-1"}, {"invoice": None}], {}, "in.csv:3: no value for 'invoice'"),
        ([{"invoice": ["INV-1", "INV-2"]}], {}, "in.csv:2: 'invoice' is a JSON list"),
        ([{"invoice": {"n": 1}}], {}, "in.csv:2: 'invoice' is a JSON object"),
        ([{"invoice": "INV-1"}], {"colour": "red"}, "--param colour is not a param of plan 'invoice'"),
    ],
)
def test_bad_rows_are_one_line(rows: list[dict[str, object]], params: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        bind_items(table(rows), PLAN, params, "k")
    assert message in err.value.message and err.value.message.startswith("Items.bind: ")


def test_a_required_param_given_by_param_needs_no_column() -> None:
    [item] = bind_items(table([{"note": "x"}]), PLAN, {"invoice": "INV-9"}, "k")
    assert item.params["invoice"] == "INV-9"


def test_reordering_rows_keeps_every_key_and_editing_one_changes_one() -> None:
    rows = [{"invoice": "INV-1"}, {"invoice": "INV-2"}, {"invoice": "INV-3", "note": "n"}]
    first = {i.values["invoice"]: i.job_id for i in bind_items(table(rows), PLAN, {}, "k")}
    moved = {i.values["invoice"]: i.job_id for i in bind_items(table(rows[::-1]), PLAN, {}, "k")}
    assert first == moved
    edited = {
        i.values["invoice"]: i.job_id
        for i in bind_items(table([rows[0], rows[1], {"invoice": "INV-3", "note": "m"}]), PLAN, {}, "k")
    }
    assert [k for k in first if first[k] != edited[k]] == ["INV-3"]


def test_an_empty_new_column_changes_no_key() -> None:
    a = bind_items(table([{"invoice": "INV-1"}]), PLAN, {}, "k")
    b = bind_items(table([{"invoice": "INV-1", "note": None}]), PLAN, {}, "k")
    assert a[0].job_id == b[0].job_id


def test_identical_rows_are_distinct_items() -> None:
    items = bind_items(table([{"invoice": "INV-1"}, {"invoice": "INV-1"}]), PLAN, {}, "k")
    assert len({i.job_id for i in items}) == 2 and items[1].job_id.endswith("-2")


def test_meta_columns_are_not_params_but_part_of_the_key() -> None:
    a, b = bind_items(
        table([{"_source": "r1", "invoice": "INV-1"}, {"_source": "r2", "invoice": "INV-1"}]), PLAN, {}, "k"
    )
    assert "_source" not in a.params and a.job_id != b.job_id and not a.job_id.endswith("-2")


def test_queue_names_depend_on_file_plan_and_params(tmp_path: Path) -> None:
    path = tmp_path / "My Invoices.csv"
    assert queue_id(path, PLAN, {}).startswith("my-invoices-")
    assert queue_key(path, PLAN, {}) == queue_key(tmp_path / "." / "My Invoices.csv", PLAN, {})
    assert queue_key(path, PLAN, {}) != queue_key(path, PLAN, {"base_url": "http://127.0.0.1:2"})
    assert queue_key(path, PLAN, {}) != queue_key(tmp_path / "other.csv", PLAN, {})
