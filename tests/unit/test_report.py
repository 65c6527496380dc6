"""HTML reports: self-contained, relative links, secrets masked, tables rendered as tables."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from engine.logs import register_secret
from engine.errors import FailureKind
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus
from engine.plan import parse_plan
from engine.report import write_batch_report, write_report

PLAN = parse_plan(
    "name: demo\ndescription: Fetch invoices\nsteps:\n  - id: open\n    action: goto\n    value: http://x/\n"
    "  - id: table\n    action: extract\n    extract: table\n    target: {test_id: t}\n    output: rows\n",
    "demo.yaml",
)
T0 = datetime(2026, 11, 24, 4, 0, tzinfo=timezone.utc)


def _outcome(run_dir, run_id="r1", status=RunStatus.succeeded, start=T0, seconds=2.0) -> RunOutcome:
    (run_dir / "screens").mkdir(parents=True, exist_ok=True)
    (run_dir / "downloads").mkdir(exist_ok=True)
    shot = run_dir / "screens" / "001-open.png"
    shot.write_bytes(b"\x89PNG")
    return RunOutcome(
        run_id=run_id, plan_name="demo", status=status, run_dir=str(run_dir),
        error=None if status is RunStatus.succeeded else "Step 'table': password s3cr3t-pw rejected",
        error_kind=None if status is RunStatus.succeeded else FailureKind.business,
        steps=[
            StepOutcome(id="open", action="goto", status=StepStatus.succeeded, seconds=0.25, screenshot=str(shot)),
            StepOutcome(id="table", action="extract", status=StepStatus.succeeded, seconds=0.5, attempts=2,
                        locator='test_id="t"', screenshot="screens/002-table.png"),
        ],
        outputs={"rows": [{"number": "INV-1", "total": "10.00"}, {"number": "INV-2", "total": "<b>"}],
                 "note": "hello s3cr3t-pw"},
        downloads=[str(run_dir / "downloads" / "inv.pdf")],
        started_at=start, finished_at=start + timedelta(seconds=seconds), seconds=seconds,
    )


def test_run_report_is_self_contained(tmp_path):
    register_secret("s3cr3t-pw")
    (tmp_path / "trace.zip").write_bytes(b"PK")
    path = write_report(_outcome(tmp_path, status=RunStatus.failed), PLAN, tmp_path)
    html = path.read_text()
    assert path == tmp_path / "report.html"
    assert "s3cr3t-pw" not in html and "********" in html
    assert 'src="screens/001-open.png"' in html and 'src="screens/002-table.png"' in html
    assert 'href="downloads/inv.pdf"' in html and 'href="trace.zip"' in html
    assert "<th>number</th>" in html and "<td>INV-2</td>" in html and "&lt;b&gt;" in html
    assert "Fetch invoices" in html and 'test_id=&quot;t&quot;' in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "a report must not load anything from the network"
    assert "<script" not in html and "<link" not in html


def test_batch_report_has_a_timeline(tmp_path):
    runs = [
        _outcome(tmp_path / "runs" / "a", "a", start=T0, seconds=2.0),
        _outcome(tmp_path / "runs" / "b", "b", RunStatus.failed, start=T0 + timedelta(seconds=1), seconds=3.0),
    ]
    path = write_batch_report(runs, {"a": 0.0, "b": 0.5}, tmp_path / "batch.html")
    html = path.read_text()
    assert "<svg" in html and html.count("<rect") == 2 and "planned start" in html
    assert "1 of 2 runs succeeded" in html
    assert 'src="runs/a/screens/001-open.png"' in html  # links rebased onto the batch report's folder
    assert 'href="#b"' in html and 'id="b"' in html
