"""Reader of PSPLIB single-mode ``.sm`` instances and of their optimum / best-known makespan lists.

Malformed input raises ``SchedulerError`` naming ``file:line``.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import SchedulerError
from engine.scheduler.models import Activity, Problem, Resource

NAME_RE = re.compile(r"^(j30|j60|j90|j120)(\d+)_(\d+)\.sm$")


def _fail(path: str, line: int, what: str) -> SchedulerError:
    return SchedulerError(f"PSPLIB.parse: {path}:{line}: {what}. Check the file is a single-mode PSPLIB .sm file.")


def _ints(path: str, no: int, text: str, what: str) -> list[int]:
    try:
        return [int(tok) for tok in text.split()]
    except ValueError:
        raise _fail(path, no, f"expected integers in the {what}, got {text.strip()!r}") from None


def _section(lines: list[str], title: str, path: str) -> int:
    for i, line in enumerate(lines):
        if line.strip().upper().startswith(title):
            return i
    raise _fail(path, len(lines), f"no '{title}' section")


def _rows(lines: list[str], begin: int) -> list[tuple[int, str]]:
    """Data rows after a section title: skip headers and dashes, stop at the next star line."""
    out = []
    for i in range(begin + 1, len(lines)):
        text = lines[i].strip()
        if text.startswith("*"):
            break
        if not text or text.startswith("-") or not text[0].isdigit():
            continue
        out.append((i + 1, text))
    return out


def parse_sm(text: str, path: str = "<text>") -> Problem:
    lines = text.splitlines()
    jobs_line = next((i for i, ln in enumerate(lines) if ln.lower().startswith("jobs")), None)
    if jobs_line is None:
        raise _fail(path, 1, "no 'jobs (incl. supersource/sink)' line")
    n = _ints(path, jobs_line + 1, lines[jobs_line].split(":")[-1], "job count")
    if len(n) != 1 or n[0] < 1:
        raise _fail(path, jobs_line + 1, "the job count must be one positive integer")
    n_jobs = n[0]
    succs: dict[int, list[int]] = {}
    for no, row in _rows(lines, _section(lines, "PRECEDENCE RELATIONS", path)):
        v = _ints(path, no, row, "precedence row")
        if len(v) < 3 or len(v) != 3 + v[2]:
            raise _fail(path, no, f"a precedence row needs job, modes, count and that many successors: {row!r}")
        succs[v[0]] = v[3:]
    dur_at = _section(lines, "REQUESTS/DURATIONS", path)
    rows = _rows(lines, dur_at)
    cap_at = _section(lines, "RESOURCEAVAILABILITIES", path)
    cap_rows = _rows(lines, cap_at)
    if not cap_rows:
        raise _fail(path, cap_at + 1, "no resource availabilities")
    caps = _ints(path, cap_rows[0][0], cap_rows[0][1], "resource availabilities")
    durations: dict[int, int] = {}
    demands: dict[int, list[int]] = {}
    for no, row in rows:
        v = _ints(path, no, row, "request/duration row")
        if len(v) != 3 + len(caps):
            raise _fail(path, no, f"expected job, mode, duration and {len(caps)} demands, got {len(v)} numbers")
        if v[0] in durations:
            raise _fail(path, no, f"job {v[0]} has a second mode; only single-mode files are supported")
        durations[v[0]], demands[v[0]] = v[2], v[3:]
    for j in range(1, n_jobs + 1):
        if j not in succs:
            raise _fail(path, _section(lines, "PRECEDENCE RELATIONS", path) + 1, f"job {j} has no precedence row")
        if j not in durations:
            raise _fail(path, dur_at + 1, f"job {j} has no duration row")
    preds: dict[int, list[str]] = {j: [] for j in durations}
    for j, ss in succs.items():
        for s in ss:
            if s not in preds:
                raise _fail(path, _line_of(lines, "PRECEDENCE RELATIONS", j), f"job {j} has unknown successor {s}")
            preds[s].append(str(j))
    resources = [Resource(id=f"R{k + 1}", capacity=c) for k, c in enumerate(caps)]
    acts = [Activity(id=str(j), duration=durations[j], predecessors=preds[j],
                     demands={f"R{k + 1}": q for k, q in enumerate(demands[j]) if q})
            for j in sorted(durations)]
    return Problem(activities=acts, resources=resources, name=Path(path).stem)


def _line_of(lines: list[str], title: str, job: int) -> int:
    for no, row in _rows(lines, _section(lines, title, "")):
        if row.split()[0] == str(job):
            return no
    return 1


def load_sm(path: str | Path) -> Problem:
    p = Path(path)
    try:
        text = p.read_text(encoding="latin-1")
    except OSError as err:
        raise SchedulerError(f"PSPLIB.load: cannot read {p}: {err.strerror}. Check the path.") from err
    return parse_sm(text, str(p))


def instance_key(path: str | Path) -> tuple[str, int, int] | None:
    """``j3010_1.sm`` -> ("j30", 10, 1); None for names outside the PSPLIB pattern."""
    m = NAME_RE.match(Path(path).name)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else None


def load_solutions(path: str | Path) -> dict[tuple[int, int], int]:
    """(parameter, instance) -> makespan from ``j30opt.sm`` / ``j120hrs.sm`` style lists (Latin-1)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="latin-1")
    except OSError as err:
        raise SchedulerError(f"PSPLIB.load: cannot read solutions {p}: {err.strerror}. Check the path.") from err
    out: dict[tuple[int, int], int] = {}
    for line in text.splitlines():
        tok = line.split()
        if len(tok) >= 3 and all(t.isdigit() for t in tok[:3]):
            out[(int(tok[0]), int(tok[1]))] = int(tok[2])
    if not out:
        raise SchedulerError(f"PSPLIB.load: no 'parameter instance makespan' rows in {p}. Give a PSPLIB "
                             "solutions file such as j30opt.sm.")
    return out
