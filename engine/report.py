"""HTML reports a person opens in any browser: one per run, one per batch (with a Gantt chart).

Everything is inline (CSS, SVG); screenshots and downloads are linked relative to the report, so a
run folder can be moved or zipped as a whole. Every piece of text goes through ``engine.logs.mask``.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from engine.logs import mask
from engine.outcome import RunOutcome
from engine.plan import Plan

if TYPE_CHECKING:
    from engine.loop.models import JobEntry
    from engine.loop.schedule import BatchSchedule

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f24;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a;margin-bottom:12px}.meta span{margin-right:16px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;font-size:12px;color:#fff}
.succeeded,.repaired{background:#1a7f37}.failed,.failed_business,.failed_application,.timeout,.repair_failed,
.unschedulable,.not_planned{background:#cf222e}.skipped,.interrupted,.skipped_duplicate{background:#6e7781}
table{border-collapse:collapse;background:#fff;margin:4px 0 12px;min-width:50%}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.err{color:#cf222e;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
.error-box{border:1px solid #cf222e;background:#fff5f5;padding:8px 12px;border-radius:6px;margin:8px 0}
code{font-family:ui-monospace,monospace;font-size:12px}
img.thumb{max-width:180px;max-height:110px;border:1px solid #d0d7de}
pre{background:#f6f8fa;padding:8px;overflow:auto}
"""


def _e(value: Any) -> str:
    """Mask, then escape: the only way text enters a report."""
    return html.escape(str(mask("" if value is None else value)), quote=True)


def _rel(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return Path(os.path.relpath(p, base)).as_posix()
    except ValueError:  # another drive on Windows
        return p.as_uri()


def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(status)}</span>'


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "-"


def _value_html(value: Any) -> str:
    """Tables (a list of dicts, or a list of lists) as tables; anything else as text."""
    if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
        cols: list[str] = []
        for row in value:
            cols += [str(k) for k in row if str(k) not in cols]
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_e(row.get(c, ''))}</td>" for c in cols) + "</tr>" for row in value
        )
        return f"<table><tr>{head}</tr>{rows}</table>"
    if isinstance(value, list) and value and all(isinstance(r, (list, tuple)) for r in value):
        rows = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in value)
        return f"<table>{rows}</table>"
    if isinstance(value, (dict, list)):
        return f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"
    return f"<code>{_e(value)}</code>"


def _steps_table(outcome: RunOutcome, plan: Plan | None, base: Path) -> str:
    described = {s.id: s for s in plan.steps} if plan is not None else {}
    rows = []
    for i, s in enumerate(outcome.steps, 1):
        spec = described.get(s.id)
        what = spec.description if spec is not None and spec.description else ""
        target = spec.target.describe() if spec is not None and spec.target is not None else ""
        shot = _rel(s.screenshot, base)
        thumb = f'<a href="{_e(shot)}"><img class=thumb loading=lazy src="{_e(shot)}" alt="{_e(s.id)}"></a>' if shot else ""
        rows.append(
            f"<tr><td class=num>{i}</td><td><code>{_e(s.id)}</code><br>{_e(what)}</td><td>{_e(s.action)}</td>"
            f"<td>{_badge(s.status.value)}</td><td class=num>{s.seconds:.3f}</td><td class=num>{s.attempts}</td>"
            f"<td><code>{_e(s.locator or target)}</code></td><td class=err>{_e(s.error or '')}</td><td>{thumb}</td></tr>"
        )
    head = "<tr><th>#</th><th>Step</th><th>Action</th><th>Status</th><th>Seconds</th><th>Attempts</th>" \
           "<th>Locator used</th><th>Error</th><th>Screenshot</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p>No step ran.</p>"


def run_section(outcome: RunOutcome, plan: Plan | None, base: Path, *, heading: str = "h1") -> str:
    """The body of one run's report; the batch report embeds it too."""
    parts = [
        f"<{heading}>{_e(outcome.plan_name)} {_badge(outcome.status.value)}</{heading}>",
        '<div class="meta">'
        f"<span>run <code>{_e(outcome.run_id)}</code></span>"
        f"<span>started {_e(_time(outcome.started_at))}</span>"
        f"<span>{outcome.seconds:.2f} s</span><span>attempt {outcome.attempt}</span>"
        f"<span>LLM calls {outcome.llm_calls}</span></div>",
    ]
    if plan is not None and (plan.description or plan.instruction):
        parts.append(f"<p>{_e(plan.description or plan.instruction)}</p>")
    if outcome.error:
        kind = f" ({_e(outcome.error_kind.value)} error)" if outcome.error_kind else ""
        parts.append(f'<div class="error-box"><b>Error{kind}:</b> <span class=err>{_e(outcome.error)}</span></div>')
    parts.append("<h2>Steps</h2>" + _steps_table(outcome, plan, base))
    if outcome.outputs:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_value_html(v)}</td></tr>" for k, v in outcome.outputs.items())
        parts.append(f"<h2>Outputs</h2><table>{rows}</table>")
    if outcome.downloads:
        links = "".join(
            f'<li><a href="{_e(_rel(d, base))}">{_e(Path(d).name)}</a></li>' for d in outcome.downloads
        )
        parts.append(f"<h2>Downloads</h2><ul>{links}</ul>")
    trace = outcome.trace or (str(base / "trace.zip") if (base / "trace.zip").exists() else None)
    if trace:
        parts.append(
            f'<h2>Trace</h2><p><a href="{_e(_rel(trace, base))}">trace.zip</a> '
            "(open with <code>playwright show-trace trace.zip</code>)</p>"
        )
    return "".join(parts)


def write_report(outcome: RunOutcome, plan: Plan | None, run_dir: str | os.PathLike[str]) -> Path:
    """``run_dir/report.html`` for one run."""
    base = Path(run_dir)
    return _write(base / "report.html", _page(f"{outcome.plan_name}: {outcome.status.value}",
                                              run_section(outcome, plan, base)))


# -- batch report ---------------------------------------------------------------------------------

def gantt_svg(outcomes: Sequence[RunOutcome], planned: Mapping[str, float] | None = None, *, width: int = 900) -> str:
    """Inline SVG: one row per run, a bar from its start to its end, coloured by status; a dashed
    tick where the schedule planned it to start (when the schedule names runs or plans)."""
    timed = [o for o in outcomes if o.started_at is not None]
    if not timed:
        return "<p>No timing to draw.</p>"
    t0 = min(o.started_at for o in timed)  # type: ignore[type-var]

    def span(o: RunOutcome) -> tuple[float, float]:
        start = (o.started_at - t0).total_seconds()  # type: ignore[operator]
        end = (o.finished_at - t0).total_seconds() if o.finished_at else start + o.seconds
        return start, max(end, start + 0.01)

    spans = [span(o) for o in timed]
    planned = dict(planned or {})
    total = max([e for _, e in spans] + [v for v in planned.values()] + [0.1])
    label_w, row_h, top = 220, 22, 24
    scale = (width - label_w - 20) / total
    height = top + row_h * len(timed) + 10
    colors = {"succeeded": "#1a7f37", "failed": "#cf222e", "interrupted": "#6e7781"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="system-ui,sans-serif" font-size="11" role="img" aria-label="timeline">']
    ticks = 5
    for i in range(ticks + 1):
        x = label_w + total * i / ticks * scale
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 6}" stroke="#d0d7de"/>'
                   f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" fill="#57606a">{total * i / ticks:.1f}s</text>')
    for row, (o, (s, e)) in enumerate(zip(timed, spans)):
        y = top + row * row_h
        color = colors.get(o.status.value, "#6e7781")
        label = f"{o.plan_name} ({o.run_id[-6:]})"
        out.append(f'<text x="4" y="{y + 14}">{_e(label[:34])}</text>'
                   f'<rect x="{label_w + s * scale:.1f}" y="{y + 3}" width="{max((e - s) * scale, 2):.1f}" '
                   f'height="{row_h - 8}" rx="3" fill="{color}"><title>{_e(label)}: {s:.2f}s to {e:.2f}s, '
                   f'{_e(o.status.value)}</title></rect>')
        plan_at = planned.get(o.run_id, planned.get(o.plan_name))
        if plan_at is not None:
            x = label_w + plan_at * scale
            out.append(f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + row_h - 3}" stroke="#0969da" '
                       'stroke-width="2" stroke-dasharray="3,2"><title>planned start</title></line>')
    out.append("</svg>")
    return "".join(out)


def write_batch_report(
    outcomes: Iterable[RunOutcome],
    planned: Mapping[str, float] | None,
    path: str | os.PathLike[str],
    *,
    title: str = "Batch report",
    plans: Mapping[str, Plan] | None = None,
    extra_html: str = "",
) -> Path:
    """One page for a batch: a summary, the Gantt timeline, then each run's section.

    ``planned`` maps run ids to their planned start (seconds from the batch start); ``plans`` maps
    run ids to their plans (for step descriptions); ``extra_html`` adds already-escaped sections.
    """
    runs = list(outcomes)
    target = Path(path)
    base = target.parent
    ok = sum(1 for r in runs if r.ok)
    summary = "".join(
        f"<tr><td><a href=\"#{_e(r.run_id)}\"><code>{_e(r.run_id)}</code></a></td><td>{_e(r.plan_name)}</td>"
        f"<td>{_badge(r.status.value)}</td><td class=num>{r.seconds:.2f}</td><td class=num>{r.attempt}</td>"
        f"<td class=num>{r.llm_calls}</td><td class=err>{_e(r.error or '')}</td>"
        f"<td>{_link(r.report, base)}</td></tr>"
        for r in runs
    )
    body = [
        f"<h1>{_e(title)}</h1><div class=meta><span>{ok} of {len(runs)} runs succeeded</span>"
        f"<span>LLM calls {sum(r.llm_calls for r in runs)}</span></div>",
        "<h2>Timeline</h2>" + gantt_svg(runs, planned),
        "<h2>Runs</h2><table><tr><th>Run</th><th>Plan</th><th>Status</th><th>Seconds</th><th>Attempt</th>"
        f"<th>LLM calls</th><th>Error</th><th>Report</th></tr>{summary}</table>",
        extra_html,
    ]
    for r in runs:
        run_base = Path(r.run_dir) if r.run_dir else base
        section = run_section(r, (plans or {}).get(r.run_id), run_base, heading="h2")
        # Links inside a run section are relative to its run folder; rebase them onto the batch report.
        body.append(f'<section id="{_e(r.run_id)}"><hr>{_rebase(section, run_base, base)}</section>')
    return _write(target, _page(title, "".join(body)))


def _link(path: str | None, base: Path) -> str:
    rel = _rel(path, base)
    return f'<a href="{_e(rel)}">report</a>' if rel else ""


def _rebase(section: str, run_base: Path, base: Path) -> str:
    if run_base == base:
        return section
    prefix = _rel(str(run_base.resolve()), base.resolve()) or ""
    if not prefix or prefix == ".":
        return section
    prefix = html.escape(prefix.rstrip("/") + "/", quote=True)
    for attr in ('href="', 'src="'):
        section = section.replace(attr, attr + "\x00")
        section = section.replace(attr + "\x00#", attr + "#").replace(attr + "\x00", attr + prefix)
    return section


# -- the loop's batch -----------------------------------------------------------------------------

def entries_html(entries: Sequence[JobEntry], schedule: BatchSchedule) -> str:
    """The jobs of a loop batch (status, attempts, planning and replay time) and their repairs."""
    rows = "".join(
        f"<tr><td><code>{_e(e.job_id)}</code></td><td>{_e(e.label)}</td><td>{_badge(e.status.value)}</td>"
        f"<td class=num>{e.attempts}</td><td class=num>{e.retries}</td><td class=num>{e.llm_calls}</td>"
        f"<td class=num>{e.planning_seconds:.2f}</td><td class=num>{e.replay_seconds:.2f}</td>"
        f"<td class=err>{_e(e.error or '')}</td></tr>" for e in entries)
    out = [f"<h2>Jobs</h2><p>Scheduled by <code>{_e(schedule.solver)}</code>, planned makespan "
           f"{schedule.makespan_s:.2f} s.</p><table><tr><th>Job</th><th>Work</th><th>Status</th><th>Attempts</th>"
           f"<th>Retries</th><th>LLM calls</th><th>Planning s</th><th>Replay s</th><th>Error</th></tr>{rows}</table>"]
    shown: set[str] = set()
    repaired = [e for e in entries if e.repairs]
    if repaired:
        out.append("<h2>Repairs</h2>")
    for e in repaired:
        items = "".join(f"<li>step <code>{_e(r.step_id)}</code> ({_e(r.source)}): <code>{_e(r.old)}</code>"
                        f" &rarr; <code>{_e(r.new)}</code></li>" for r in e.repairs)
        saved = f"saved as <code>{_e(e.repaired_path)}</code>" if e.repaired_path else "not saved (it did not succeed)"
        out.append(f"<h3>{_e(e.label)} <small>({_e(e.job_id)})</small></h3><ul>{items}</ul><p>{saved}</p>")
        if e.diff and e.diff not in shown:
            shown.add(e.diff)
            out.append(f"<pre class=diff>{_e(e.diff)}</pre>")
    return "".join(out)


def write_loop_batch(path: Path, batch_id: str, runs: Sequence[RunOutcome], entries: Sequence[JobEntry],
                     schedule: BatchSchedule, plans: Mapping[str, Plan], planned: Mapping[str, float]) -> str | None:
    """The batch report of ``engine.loop``; None (and a warning) when it cannot be written."""
    try:
        return str(write_batch_report(runs, planned, path, title=f"Batch {batch_id}", plans=plans,
                                      extra_html=entries_html(entries, schedule)))
    except OSError as err:
        logger.warning("report: batch report {} not written: {}", path, err)
        return None
