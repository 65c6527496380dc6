"""The loop's state machine with a scripted runtime in place of Chromium (the browser path is
covered by tests/integration/test_loop.py): retries, business errors, repair, scheduling, claims."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config import get_settings
from engine.history import History
from engine.loop import EntryStatus, JobSpec, LoopDeps, run_batch_async
from engine.errors import FailureKind
from bots.runner import RunResult
from engine.outcome import RunOutcome, RunStatus, StepOutcome, StepStatus
from engine.plan import Plan, Target, save_plan


@dataclass
class El:
    ref: str
    role: str
    name: str


@dataclass
class Obs:
    elements: list[El]
    selector_map: dict[str, Target] = field(default_factory=dict)

    def to_prompt(self, _tokens: int) -> str:
        return "\n".join(f"[{e.ref}] {e.role} {e.name!r}" for e in self.elements)


DRIFTED = Obs([El("1", "button", "Help"), El("2", "button", "Sign in now")],
              {"1": Target.model_validate({"role": "button", "name": "Help"}),
               "2": Target.model_validate({"role": "button", "name": "Sign in now"})})


class ScriptedRuntime:
    """Plays the site: 'flaky' fails once, 'biz' is refused, 'drift' needs the renamed button."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.live = 0
        self.peak = 0

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def restart(self) -> None: ...
    def alive(self) -> bool:
        return True

    def slots(self, requested: int) -> int:
        return requested

    async def run(self, plan: Plan, spec: Any) -> RunResult:
        self.live += 1
        self.peak = max(self.peak, self.live)
        await asyncio.sleep(0.01)
        self.live -= 1
        n = self.calls[plan.name] = self.calls.get(plan.name, 0) + 1
        now = datetime.now(timezone.utc)
        ok = [StepOutcome(id=s.id, action=s.action.value, status=StepStatus.succeeded, seconds=0.1) for s in plan.steps]

        def fail(step: str, kind: FailureKind, error: str) -> RunOutcome:
            steps = [s if s.id != step else s.model_copy(update={"status": StepStatus.failed, "error": error})
                     for s in ok]
            return RunOutcome(run_id=spec.run_id, plan_name=plan.name, status=RunStatus.failed, steps=steps,
                              error=error, error_kind=kind, started_at=now, finished_at=now)

        if plan.name == "flaky" and n == 1:
            return RunResult(fail("go", FailureKind.application, "Step 'go': HTTP 500 on navigation"))
        if plan.name == "biz":
            return RunResult(fail("go", FailureKind.business, "Step 'go': the site says the record does not exist"))
        if plan.name == "drift" and plan.step("go").target.locators[0].name != "Sign in now":
            return RunResult(fail("go", FailureKind.target_missing, "Step 'go': no element matches role=button"),
                             DRIFTED)
        return RunResult(RunOutcome(run_id=spec.run_id, plan_name=plan.name, status=RunStatus.succeeded, steps=ok,
                                    started_at=now, finished_at=now, seconds=0.2))


def _plan(name: str, **extra: Any) -> Plan:
    data = {"name": name, "steps": [{"id": "open", "action": "goto", "value": "http://127.0.0.1:1/"},
                                    {"id": "go", "action": "click", "target": {"role": "button", "name": "Sign in"}}]}
    data.update(extra)
    return Plan.model_validate(data)


def _no_planner() -> None:
    from engine.errors import PlannerError

    raise PlannerError("Loop.plan: no planner in this test.")


def _deps(runtime: ScriptedRuntime) -> LoopDeps:
    settings = get_settings().ensure()
    return LoopDeps(settings=settings, history=History(settings), planner_factory=_no_planner,
                    runtime_factory=lambda size, headed: runtime, secret=lambda name: "x", solver="wspt",
                    backoff_base_s=0.01)


async def test_batch_state_machine(tmp_path: Path) -> None:
    runtime = ScriptedRuntime()
    user_file = save_plan(_plan("drift"), tmp_path / "drift.yaml")
    jobs = [JobSpec(plan=_plan("flaky"), job_id="flaky"), JobSpec(plan=_plan("biz"), job_id="biz"),
            JobSpec(plan_path=str(user_file), job_id="drift"), JobSpec(plan=_plan("ok"), job_id="ok"),
            JobSpec(plan=_plan("gpu", resources={"gpu": 1}), job_id="gpu"),
            JobSpec(instruction="do it", url="http://127.0.0.1:1/", job_id="llm")]
    deps = _deps(runtime)
    batch = await run_batch_async(jobs, concurrency=2, deps=deps)
    e = {x.job_id: x for x in batch.entries}
    assert e["flaky"].status is EntryStatus.succeeded and e["flaky"].attempts == 2 and e["flaky"].retries == 1
    assert e["biz"].status is EntryStatus.failed_business and e["biz"].attempts == 1
    assert e["drift"].status is EntryStatus.repaired, e["drift"].error
    assert e["drift"].repairs[0].source == "observation"
    assert Path(e["drift"].repaired_path).name == "drift.v2.yaml" and "+++ drift.v2.yaml" in e["drift"].diff
    assert e["ok"].status is EntryStatus.succeeded
    assert e["gpu"].status is EntryStatus.unschedulable and "'gpu'" in e["gpu"].error
    assert e["llm"].status is EntryStatus.not_planned and e["llm"].error.startswith("Loop.plan:")
    assert [r.status for r in deps.history.list_runs(job_id="llm")] == ["failed_application"]
    assert runtime.peak <= 2
    assert batch.retries >= 2 and batch.report and Path(batch.report).exists()
    assert "drift.v2.yaml" in Path(batch.report).read_text()
    # A job id that already succeeded is never run to completion again.
    again = await run_batch_async([JobSpec(plan=_plan("ok"), job_id="ok")], deps=deps)
    assert again.entries[0].status is EntryStatus.skipped_duplicate
    assert [r.status for r in deps.history.list_runs(job_id="ok")] == ["succeeded"]


async def test_a_repair_spreads_to_the_other_jobs_of_the_plan(tmp_path: Path) -> None:
    runtime = ScriptedRuntime()
    user_file = save_plan(_plan("drift"), tmp_path / "drift.yaml")
    jobs = [JobSpec(plan_path=str(user_file), job_id=f"d{i}") for i in range(4)]
    batch = await run_batch_async(jobs, concurrency=1, deps=_deps(runtime))
    assert all(x.status is EntryStatus.repaired for x in batch.entries)
    assert {x.repaired_path for x in batch.entries} == {str(tmp_path / "drift.v2.yaml")}
    assert not (tmp_path / "drift.v3.yaml").exists()
    assert sum(x.attempts for x in batch.entries[1:]) == 3  # later jobs start with the repaired plan
