"""The same seed gives the same schedule on CPU and CUDA (skipped where no CUDA is present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.scheduler import Objective, check_feasible, reoptimize, solve
from engine.scheduler.psplib import load_sm
from tests.unit.scheduler_helpers import random_problem

PSPLIB = Path(__file__).resolve().parents[3] / "shared" / "psplib"


@pytest.mark.cuda
@pytest.mark.parametrize("objective", list(Objective))
@pytest.mark.parametrize("seed", range(3))
def test_cpu_and_cuda_give_identical_schedules(seed, objective):
    problem = random_problem(seed, n=25, resources=3, releases=True, deadlines=True)
    cpu = solve(problem, budget_schedules=1500, seed=seed, device="cpu", objective=objective)
    gpu = solve(problem, budget_schedules=1500, seed=seed, device="cuda", objective=objective)
    check_feasible(problem, gpu)
    assert cpu.start == gpu.start and cpu.value == gpu.value


@pytest.mark.cuda
def test_cpu_and_cuda_agree_on_psplib_and_online():
    for path in sorted((PSPLIB / "j120").glob("j1201_*.sm"))[:2]:
        problem = load_sm(path)
        cpu = solve(problem, budget_schedules=2000, device="cpu")
        gpu = solve(problem, budget_schedules=2000, device="cuda")
        assert cpu.start == gpu.start
        now = cpu.makespan // 3
        a = reoptimize(problem, cpu, now, budget_schedules=300, device="cpu")
        b = reoptimize(problem, cpu, now, budget_schedules=300, device="cuda")
        assert a.start == b.start
