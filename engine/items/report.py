"""The queue's section of the batch report: items, done, failed, left, and each item's line.

The loop writes the batch report; this adds one clearly separated section to it afterwards
(``<section id="queue">`` before ``</body>``), rewritten atomically like OUT.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from loguru import logger

from engine.items.models import ItemView, QueueSummary
from engine.logs import mask

MAX_ROWS = 500  # a very long queue lists its first items; OUT has them all


def _e(value: object) -> str:
    return html.escape(str(mask("" if value is None else value)), quote=True)


def queue_section_html(summary: QueueSummary, views: list[ItemView]) -> str:
    shown = [v for v in views if v.present][:MAX_ROWS]
    rows = "".join(
        f"<tr><td class=num>{v.line}</td><td>{_e(', '.join(f'{k}={x}' for k, x in v.values.items()))}</td>"
        f"<td>{_e(v.state.value)}</td><td class=num>{v.attempt}</td>"
        f"<td><code>{_e(v.run_id or '')}</code></td>"
        f"<td class=err>{_e(v.error or '')}</td></tr>"
        for v in shown
    )
    more = (
        f"<p>{summary.items - len(shown)} more items: see OUT or <code>rpa items show</code>.</p>"
        if summary.items > len(shown)
        else ""
    )
    return (
        f'<section id="queue" style="border-top:2px solid #d0d7de;margin-top:24px">'
        f"<h2>Queue <code>{_e(summary.queue)}</code></h2>"
        f"<p>{_e(summary.items_path)} &middot; plan {_e(summary.plan)}</p>"
        f"<table><tr><th>Items</th><th>Done</th><th>Failed</th><th>Held</th><th>Left</th></tr>"
        f"<tr><td class=num>{summary.items}</td><td class=num>{summary.done}</td>"
        f"<td class=num>{summary.failed}"
        f"</td><td class=num>{summary.held}</td><td class=num>{summary.left}</td></tr></table>"
        f"<table><tr><th>Line</th><th>Item</th><th>Status</th><th>Attempt</th><th>Run</th><th>Error</th></tr>"
        f"{rows}</table>{more}</section>"
    )


def add_queue_section(report: Path, summary: QueueSummary, views: list[ItemView]) -> None:
    try:
        page = report.read_text(encoding="utf-8")
        section = queue_section_html(summary, views)
        at = page.rfind("</body>")
        page = page[:at] + section + page[at:] if at >= 0 else page + section
        tmp = report.with_name(f".{report.name}.{os.getpid()}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, report)
    except OSError as err:  # the report is an extra; OUT and history hold the queue
        logger.warning("items: cannot add the queue to {}: {}", report, err)
