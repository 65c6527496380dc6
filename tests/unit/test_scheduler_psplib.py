"""The .sm reader on a real j30 file, malformed files, reference lists, and the bench command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.errors import SchedulerError
from engine.scheduler import check_feasible, solve
from engine.scheduler.psplib import instance_key, load_sm, load_solutions, parse_sm

PSPLIB = Path(__file__).resolve().parents[3] / "shared" / "psplib"
J301_1 = PSPLIB / "j30" / "j301_1.sm"
pytestmark = pytest.mark.skipif(not J301_1.exists(), reason="PSPLIB data not present")


def test_real_j30_file():
    p = load_sm(J301_1)
    assert len(p.activities) == 32
    assert [(r.id, r.capacity) for r in p.resources] == [("R1", 12), ("R2", 13), ("R3", 4), ("R4", 12)]
    acts = {a.id: a for a in p.activities}
    assert acts["2"].duration == 8 and acts["2"].demands == {"R1": 4} and acts["2"].predecessors == ["1"]
    assert sorted(acts["32"].predecessors, key=int) == ["29", "30", "31"]
    assert acts["1"].duration == 0 and acts["32"].duration == 0
    assert instance_key(J301_1) == ("j30", 1, 1)


def test_optimum_is_reached_on_a_real_instance():
    p = load_sm(J301_1)
    opt = load_solutions(PSPLIB / "j30opt.sm")[(1, 1)]
    result = solve(p, budget_schedules=2000)
    check_feasible(p, result)
    assert result.makespan == opt == 43


def test_best_known_lists_read_latin1():
    hrs = load_solutions(PSPLIB / "j120hrs.sm")
    assert hrs[(1, 1)] == 105 and len(hrs) == 600


def _broken(line_no: int, replacement: str) -> str:
    lines = J301_1.read_text(encoding="latin-1").splitlines()
    lines[line_no - 1] = replacement
    return "\n".join(lines)


def test_malformed_rows_name_file_and_line():
    text = J301_1.read_text(encoding="latin-1").splitlines()
    dur_line = next(i for i, ln in enumerate(text, 1) if ln.strip().startswith("5      1     3"))
    with pytest.raises(SchedulerError, match=rf"^PSPLIB.parse: bad.sm:{dur_line}: expected integers"):
        parse_sm(_broken(dur_line, "  5      1     x       3    0    0    0"), "bad.sm")
    with pytest.raises(SchedulerError, match=rf"^PSPLIB.parse: bad.sm:{dur_line}: expected job, mode, duration"):
        parse_sm(_broken(dur_line, "  5      1     3       3    0"), "bad.sm")
    prec_line = next(i for i, ln in enumerate(text, 1) if ln.strip().startswith("2        1          3"))
    with pytest.raises(SchedulerError, match=rf"bad.sm:{prec_line}: a precedence row needs"):
        parse_sm(_broken(prec_line, "   2        1          3           6  11"), "bad.sm")
    with pytest.raises(SchedulerError, match=rf"bad.sm:{prec_line}: job 2 has unknown successor 99"):
        parse_sm(_broken(prec_line, "   2        1          3           6  11  99"), "bad.sm")


def test_missing_sections_and_files():
    with pytest.raises(SchedulerError, match=r"^PSPLIB.parse: empty.sm:1: no 'jobs"):
        parse_sm("hello\n", "empty.sm")
    cut = "\n".join(J301_1.read_text(encoding="latin-1").splitlines()[:40])
    with pytest.raises(SchedulerError, match=r"cut.sm:\d+: no 'REQUESTS/DURATIONS' section"):
        parse_sm(cut, "cut.sm")
    with pytest.raises(SchedulerError, match=r"^PSPLIB.load: cannot read"):
        load_sm(PSPLIB / "nope.sm")


def test_bench_psplib_json(tmp_path):
    from engine.cli.main import app

    result = CliRunner().invoke(app, ["bench", "psplib", str(J301_1), str(PSPLIB / "j30" / "j301_2.sm"),
                                      "--schedules", "300", "--baseline", "lft", "--device", "cpu",
                                      "--determinism", "1", "--no-online", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["results"]
    assert [r["solver"] for r in rows] == ["ga", "lft"]
    for r in rows:
        assert {"set", "solver", "instances", "reference", "mean_pct_above_reference", "schedules_per_s",
                "seconds", "device", "cores"} <= set(r)
        assert r["set"] == "j30" and r["instances"] == 2 and r["reference"] == "optimum"
    assert rows[0]["mean_pct_above_reference"] <= rows[1]["mean_pct_above_reference"]
    assert rows[0]["deterministic"] is True and rows[0]["determinism_checked"] == 1
    assert report["online"] is None and report["cpu_count"] >= 1


def test_bench_cpsat_rows_per_time_limit():
    from engine.bench.psplib import run_bench

    rows = run_bench([str(J301_1)], schedules=100, baselines=["cpsat"], time_limits=[0.2, 0.5], determinism=0)
    assert [(r.solver, r.budget.split(" ")[0]) for r in rows] == [("ga", "100"), ("cpsat", "0.2"), ("cpsat", "0.5")]
    assert rows[1].cores == rows[2].cores >= 1 and rows[0].deterministic is None


def test_online_bench_never_worse_than_the_current_order():
    from engine.bench.psplib import online_bench

    result = online_bench(pending=20, slots=3, budget_ms=20, trials=2)
    assert result.feasible and result.running_jobs >= 1
    assert result.pending_jobs + result.running_jobs == 23
    assert result.mean_pct_better_than_current >= 0


def test_bench_unknown_baseline_fails_fast():
    out = subprocess.run([sys.executable, "-c", "from engine.cli.main import run; run()", "bench", "psplib",
                          str(J301_1), "--baseline", "tabu"], capture_output=True, text=True)
    assert out.returncode == 1
    assert 'No solver by the name "tabu" was found' in out.stderr
