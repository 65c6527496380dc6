"""Work items end to end: ``rpa run PLAN --items FILE`` subprocesses against the sandbox, real
Chromium, real SQLite; SIGKILL of the runner mid-item, then the same command again."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from openpyxl import Workbook, load_workbook

from engine.config import get_settings
from engine.history import History

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SEARCH = REPO / "recordings" / "login_and_search.yaml"
T = TypeVar("T")

# Signs in, then opens one invoice by its number: an unknown number is the sandbox's 404 (a business
# error); a base_url nobody listens on is an application error. Its params are the columns of the
# invoice table, so a search's emitted rows are its items.
INVOICE_PLAN = """\
name: invoice_total
params:
  base_url: http://127.0.0.1:8765
  username: alice
  number: {description: "INV-1001 to INV-1060"}
  supplier: ""
  date: ""
  amount: ""
  status: ""
secrets: [password]
allowed_domains: [127.0.0.1]
steps:
  - id: open_login
    action: goto
    value: "{{ params.base_url }}/login?next=/invoices"
    retries: 2
    expect: {visible: {role: button, name: Sign in}}
  - id: username
    action: fill
    target: [{label: Username}]
    value: "{{ params.username }}"
  - id: password
    action: fill
    target: [{label: Password}]
    value: "{{ secrets.password }}"
  - id: sign_in
    action: click
    target: [{role: button, name: Sign in}]
    expect: {url: /invoices, text: Signed in as}
  - id: open_invoice
    action: goto
    value: "{{ params.base_url }}/invoices/{{ params.number }}"
    retries: 2
  - id: total
    action: extract
    target: [{test_id: invoice-total}]
    output: total
"""


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPA_SECRET_PASSWORD", "wonderland")


def rpa(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the runner, then whatever it left (its browser records nothing)."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(check: Callable[[], T], what: str, limit_s: float = 90.0) -> T:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def item_runs() -> list[Any]:
    return [r for r in History(get_settings()).list_runs(limit=1000) if (r.job_id or "").startswith("item-")]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, column: str, values: list[str]) -> Path:
    path.write_text(column + "\n" + "".join(v + "\n" for v in values), encoding="utf-8")
    return path


@pytest.fixture
def invoice_plan(tmp_path: Path) -> Path:
    path = tmp_path / "invoice_total.yaml"
    path.write_text(INVOICE_PLAN, encoding="utf-8")
    return path


def queue(plan: Path, items: Path, base_url: str, **kw: Any) -> Any:
    """The engine's own entry point, in this process (the CLI tests below use subprocesses)."""
    from engine.items import QueueRequest, run_queue

    return run_queue(QueueRequest(plan_path=plan, items_path=items, params={"base_url": base_url}, **kw))


def test_csv_round_trip_resume_list_show_and_history(sandbox: Any, tmp_path: Path) -> None:
    items = write_csv(tmp_path / "invoices.csv", "supplier", ["INV-1001", "INV-1007"])
    out = tmp_path / "out.csv"
    args = ("run", str(SEARCH), "--items", str(items), "--output", str(out),
            "--param", f"base_url={sandbox.url}", "--concurrency", "2", "--json")  # fmt: skip
    first = rpa(*args)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert [result[k] for k in ("items", "done", "failed", "left", "ran")] == [2, 2, 0, 0, 2]
    rows = csv_rows(out)
    assert [(r["supplier"], r["status"], r["count"], r["attempt"]) for r in rows] == [
        ("INV-1001", "succeeded", "1 invoice found", "1"),
        ("INV-1007", "succeeded", "1 invoice found", "1"),
    ]
    assert json.loads(rows[1]["invoices"])[0]["Supplier"] == "Initech Ltd"
    assert Path(rows[0]["report"]).exists()
    assert 'id="queue"' in Path(result["report"]).read_text(encoding="utf-8")

    items.write_text("supplier\nINV-1012\nINV-1001\nINV-1007\n", encoding="utf-8")  # reordered, one new row
    again = rpa(*args)  # the same command resumes: only the new row runs
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert [resumed[k] for k in ("items", "done", "ran", "skipped")] == [3, 3, 1, 2]
    assert len(item_runs()) == 3  # each item succeeded once, no run repeated
    assert [r["supplier"] for r in csv_rows(out)] == ["INV-1012", "INV-1001", "INV-1007"]

    listed = json.loads(rpa("items", "list", "--json").stdout)["queues"]
    assert [(q["queue"], q["items"], q["done"], q["left"]) for q in listed] == [(result["queue"], 3, 3, 0)]
    shown = rpa("items", "show", result["queue"][:10])
    assert shown.returncode == 0 and "3 items, 3 done, 0 failed" in shown.stdout
    assert json.loads(rpa("history", "--json").stdout)["queues"][0]["done"] == 3
    assert "Queues" in rpa("history").stdout


def test_xlsx_in_jsonl_out_and_jsonl_in_xlsx_out(sandbox: Any, tmp_path: Path) -> None:
    book = Workbook()
    book.active.title = "Todo"
    book.active.append(["supplier"])
    book.active.append(["INV-1004"])
    book.create_sheet("Notes").append(["anything"])
    book.save(tmp_path / "in.xlsx")
    book_path = tmp_path / "in.xlsx"
    several = rpa("run", str(SEARCH), "--items", str(book_path), "--param", f"base_url={sandbox.url}")
    assert several.returncode == 1
    assert "has 2 sheets (Todo, Notes). Name one with --sheet NAME" in several.stderr

    out = tmp_path / "out.jsonl"
    assert queue(SEARCH, tmp_path / "in.xlsx", sandbox.url, sheet="Todo", output=out).ok
    [row] = [json.loads(x) for x in out.read_text().splitlines()]
    assert row["supplier"] == "INV-1004" and row["status"] == "succeeded"
    assert row["invoices"][0]["Supplier"] == "Globex GmbH"  # JSON lines keep the table as structure

    (tmp_path / "in.jsonl").write_text('{"supplier": "INV-1002"}\n', encoding="utf-8")
    assert queue(SEARCH, tmp_path / "in.jsonl", sandbox.url, output=tmp_path / "out.xlsx").ok
    sheet = load_workbook(tmp_path / "out.xlsx").active
    values = dict(zip([c.value for c in sheet[1]], [c.value for c in sheet[2]], strict=True))
    assert values["supplier"] == "INV-1002" and values["status"] == "succeeded"
    assert values["count"] == "1 invoice found"


def test_business_and_application_failures_in_one_queue(invoice_plan: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from bots.sandbox import start_sandbox

    monkeypatch.setenv("RPA_STEP_TIMEOUT_MS", "3000")  # an expectation on a 500 page fails sooner
    items = tmp_path / "mixed.csv"
    items.write_text("number,base_url\nINV-1007,\nINV-9999,\nINV-1010,http://127.0.0.1:9\nINV-1020,\n")
    out = tmp_path / "out.csv"
    with start_sandbox(port=0, flaky=0.15, seed=3, slow=(0.05, 0.1)) as site:
        first = queue(invoice_plan, items, site.url, output=out, concurrency=3, retries=1)
        rows = {r["number"]: r for r in csv_rows(out)}
        assert rows["INV-1007"]["status"] == "succeeded" and rows["INV-1007"]["total"] == "930.00"
        assert rows["INV-1020"]["status"] == "succeeded"
        assert (rows["INV-9999"]["status"], rows["INV-9999"]["error_kind"]) == ("failed_business", "business")
        assert "HTTP 404" in rows["INV-9999"]["error"]
        job = next(r.job_id for r in item_runs() if r.id == rows["INV-9999"]["run_id"])
        tries = sorted((r.attempt, r.status) for r in item_runs() if r.job_id == job)
        assert tries[-1][1] == "failed_business"  # a business error is never retried
        assert all(s == "failed_application" for _, s in tries[:-1])  # (an injected 500 before it may be)
        app = rows["INV-1010"]
        assert (app["status"], app["error_kind"]) == ("failed_application", "application")
        assert rows["INV-1010"]["attempt"] == "2"  # retried per the policy (retries=1)
        s = first.summary
        assert (first.ok, s.done, s.failed, s.left) == (False, 2, 2, 0)

        again = queue(invoice_plan, items, site.url, output=out, only_failed=True, retries=0)
        assert (again.ran, again.skipped, again.summary.done) == (2, 2, 2)
        again_rows = {r["number"]: r for r in csv_rows(out)}
        assert again_rows["INV-1010"]["attempt"] == "3"  # attempts go on counting across runs of the queue


def test_sigkill_mid_item_then_the_same_command_resumes(sandbox: Any, tmp_path: Path) -> None:
    items = write_csv(tmp_path / "kill.csv", "supplier", ["INV-1001", "INV-1002", "INV-1003"])
    out = tmp_path / "out.csv"
    url = f"base_url={sandbox.url}"
    args = ("run", str(SEARCH), "--items", str(items), "--output", str(out), "--param", url)
    proc = start(*args)
    try:
        # OUT is rewritten as items finish: a person sees the first result while the batch runs
        wait_for(lambda: out.exists() and any(r["status"] == "succeeded" for r in csv_rows(out)), "OUT")
        cut = wait_for(lambda: [r for r in item_runs() if r.status == "running"], "a second item running")
    finally:
        kill(proc)
    assert [r.status for r in item_runs() if r.id == cut[0].id] == ["running"]  # what a kill leaves

    resumed = rpa(*args, "--json")
    assert resumed.returncode == 0, resumed.stderr
    per_item: dict[str, list[tuple[int, str]]] = {}
    for r in sorted(item_runs(), key=lambda r: r.started_at):
        per_item.setdefault(r.job_id, []).append((r.attempt, r.status))
    assert len(per_item) == 3 and all(sum(s == "succeeded" for _, s in v) == 1 for v in per_item.values())
    assert per_item[cut[0].job_id] == [(1, "interrupted"), (2, "succeeded")]
    assert [r["status"] for r in csv_rows(out)] == ["succeeded"] * 3
    assert not list(tmp_path.glob(".out.csv.*.tmp"))


def test_a_cut_off_item_of_a_non_idempotent_plan_is_held(sandbox: Any, tmp_path: Path) -> None:
    plan = tmp_path / "search_once.yaml"
    text = SEARCH.read_text(encoding="utf-8")
    plan.write_text(text.replace("name: login_and_search", "name: search_once\nidempotent: false"))
    items = write_csv(tmp_path / "held.csv", "supplier", ["INV-1001"])
    proc = start("run", str(plan), "--items", str(items), "--param", f"base_url={sandbox.url}")
    try:
        wait_for(lambda: [r for r in item_runs() if r.status == "running"], "the item to be running")
    finally:
        kill(proc)
    held = queue(plan, items, sandbox.url)
    assert [v.state.value for v in held.items] == ["held"] and held.ran == 0 and not held.ok
    assert [r.status for r in item_runs()] == ["interrupted"]  # not re-run on its own
    shown = rpa("items", "show", held.summary.queue)
    assert "held" in shown.stdout and "1 held" in shown.stdout
    retried = rpa("items", "retry", held.summary.queue, "--json")  # a person decided
    assert retried.returncode == 0, retried.stderr
    assert sorted(r.status for r in item_runs()) == ["interrupted", "succeeded"]


def test_producer_rows_become_a_consumers_items(sandbox: Any, invoice_plan: Path, tmp_path: Path) -> None:
    searches = write_csv(tmp_path / "searches.csv", "supplier", ["INV-1007", "INV-1012"])
    found = tmp_path / "found.jsonl"
    assert queue(SEARCH, searches, sandbox.url, emit_items=found, concurrency=2).emitted == 2
    assert queue(SEARCH, searches, sandbox.url, emit_items=found).emitted == 0  # resumed: nothing twice
    rows = [json.loads(x) for x in found.read_text().splitlines()]
    assert sorted(r["number"] for r in rows) == ["INV-1007", "INV-1012"] and all(r["_source"] for r in rows)
    out = tmp_path / "totals.csv"
    assert queue(invoice_plan, found, sandbox.url, output=out, concurrency=2).ok
    totals = sorted((r["number"], r["total"]) for r in csv_rows(out))
    assert totals == [("INV-1007", "930.00"), ("INV-1012", "852.00")]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("unknown.csv", "supplier,colour\nINV-1,red\n", "column 'colour' of unknown.csv is not a param"),
    ("missing.csv", "supplier\nINV-1\n", "missing.csv has no column 'number'"),
    ("broken.csv", 'number\nINV-1\n"INV-2\n', "broken.csv:3: malformed CSV"),
    ("fields.csv", "number,supplier\nINV-1,a\nINV-2,a,b\n", "fields.csv:3: 3 fields where the header has 2"),
    ("empty.csv", "", "empty.csv is empty"),
    ("typed.jsonl", '{"number": "INV-1"}\n{"number": ["INV-2"]}\n', "typed.jsonl:2: 'number' is a JSON list"),
])  # fmt: skip
def test_bad_items_are_one_line_and_start_no_run(invoice_plan: Path, tmp_path: Path, name: str, text: str,
                                                 message: str) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out.csv"
    proc = rpa("run", str(invoice_plan), "--items", str(path), "--output", str(out), timeout=60)
    assert proc.returncode == 1
    assert message in proc.stderr and proc.stderr.strip().startswith("error: Items.")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert History(get_settings()).list_runs() == [] and not (tmp_path / "out.csv").exists()
    assert path.read_text(encoding="utf-8") == text  # the items file is never touched


def test_out_that_is_not_ours_is_never_overwritten(invoice_plan: Path, tmp_path: Path) -> None:
    items = write_csv(tmp_path / "in.csv", "number", ["INV-1001"])
    mine = tmp_path / "mine.csv"
    mine.write_text("precious\n", encoding="utf-8")
    proc = rpa("run", str(invoice_plan), "--items", str(items), "--output", str(mine), timeout=60)
    assert proc.returncode == 1 and "exists and belongs to nobody's queue" in proc.stderr
    assert mine.read_text(encoding="utf-8") == "precious\n"
    same = rpa("run", str(invoice_plan), "--items", str(items), "--output", str(items), timeout=60)
    assert same.returncode == 1 and "is the items file; it is never written" in same.stderr
