"""Plan files: exclusive saves under a race, a size limit before parsing, one-line CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import PlanValidationError
from engine.plan import load_plan, parse_plan, save_plan

REPO = Path(__file__).resolve().parents[2]
PLAN = "name: p{n}\nsteps:\n  - id: a\n    action: goto\n    value: http://127.0.0.1:9/{n}\n"


def _race(plans, path) -> tuple[list[int], list[int]]:
    """Every plan saved to ``path`` at once (threads released together); who won, who was refused."""
    gate = threading.Barrier(len(plans))
    won: list[int] = []
    lost: list[int] = []

    def write(n: int) -> None:
        gate.wait()
        try:
            save_plan(plans[n], path)
            won.append(n)
        except PlanValidationError as err:
            assert "file exists" in err.message
            lost.append(n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(plans))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def test_two_writers_of_one_name_one_wins(tmp_path):
    """Repairs racing for plan.v2.yaml: exactly one save succeeds and the file is the winner's."""
    plans = [parse_plan(PLAN.format(n=n)) for n in range(8)]
    for round_ in range(20):
        path = tmp_path / f"plan.v{round_}.yaml"
        won, lost = _race(plans, path)
        assert len(won) == 1 and len(lost) == len(plans) - 1, (round_, won)
        assert load_plan(path).name == f"p{won[0]}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "p.yaml"
    save_plan(parse_plan(PLAN.format(n=1)), path)
    with pytest.raises(PlanValidationError, match="file exists"):
        save_plan(parse_plan(PLAN.format(n=2)), path)
    save_plan(parse_plan(PLAN.format(n=2)), path, overwrite=True)
    assert load_plan(path).name == "p2"


def test_plan_over_the_size_limit_is_refused_before_parsing(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    body = PLAN.format(n=1) + "".join(f"  - id: s{i}\n    action: goto\n    value: http://127.0.0.1:9/\n"
                                      for i in range(40_000))
    big.write_text(body)
    assert big.stat().st_size > 2_000_000
    with pytest.raises(PlanValidationError) as err:
        load_plan(big)
    assert err.value.message.startswith(f"Plan.validate: {big}: the file is {big.stat().st_size:,} bytes, over "
                                        "the 1,000,000-byte limit")
    with pytest.raises(PlanValidationError, match="limit"):
        parse_plan(body)
    small = tmp_path / "small.yaml"
    small.write_text(PLAN.format(n=1))
    assert load_plan(small).name == "p1"
    monkeypatch.setenv("RPA_PLAN_MAX_BYTES", "50")
    with pytest.raises(PlanValidationError, match="RPA_PLAN_MAX_BYTES"):
        load_plan(small)


def _rpa(*args: str) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "rpa"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli.main"]
    return subprocess.run([*cmd, *args], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1"})


def test_cli_lines(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(PLAN.format(n=1) + "#" * 1_200_000 + "\n")
    proc = _rpa("validate", str(big))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "limit" in proc.stderr
    proc = _rpa("run", "--concurrency", "0", str(big))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: rpa run: --concurrency must be 1 to 64, got 0. Pass e.g. --concurrency 4."]
