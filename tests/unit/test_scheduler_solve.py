"""Solvers against brute-force optima, the feasibility checker on every output, determinism."""

from __future__ import annotations

import pytest
import torch

from engine.errors import SchedulerError
from engine.scheduler import (Activity, Objective, Problem, Resource, check_feasible, get_solver, solve,
                              solver_names, violations)
from engine.scheduler.sgs import compile_problem, decode
from tests.unit.scheduler_helpers import brute_force, feasible_orders, random_problem, serial_sgs


@pytest.mark.parametrize("seed", range(12))
def test_ga_reaches_the_brute_force_makespan(seed):
    problem = random_problem(seed, n=6, releases=seed % 2 == 1)
    result = solve(problem, budget_schedules=600, seed=seed)
    check_feasible(problem, result)
    assert result.makespan == brute_force(problem)


@pytest.mark.parametrize("objective", [Objective.weighted_completion, Objective.tardiness])
@pytest.mark.parametrize("seed", range(5))
def test_ga_reaches_the_brute_force_optimum_of_other_objectives(seed, objective):
    problem = random_problem(100 + seed, n=6, deadlines=True)
    result = solve(problem, budget_schedules=600, seed=seed, objective=objective)
    check_feasible(problem, result)
    assert result.value == pytest.approx(brute_force(problem, objective))


@pytest.mark.parametrize("seed", range(4))
def test_batched_decoder_matches_the_python_sgs_on_every_list(seed):
    problem = random_problem(200 + seed, n=6, releases=True)
    orders = list(feasible_orders(problem))[:300]
    ids = [a.id for a in problem.activities]
    keys = torch.tensor([[order.index(k) for k in ids] for order in orders])
    dec = decode(compile_problem(problem), keys)
    for row, order in enumerate(orders):
        expected = serial_sgs(problem, order)
        assert dict(zip(ids, dec.start[row].tolist())) == expected


@pytest.mark.parametrize("solver", ["ga", "lft", "minslack", "wspt", "cpsat"])
@pytest.mark.parametrize("seed", range(6))
def test_every_solver_returns_feasible_schedules(solver, seed):
    problem = random_problem(300 + seed, n=14, resources=3, releases=seed % 2 == 0)
    result = solve(problem, solver=solver, budget_schedules=300, budget_ms=2000 if solver == "cpsat" else None,
                   seed=seed)
    assert violations(problem, result) == []
    check_feasible(problem, result)
    assert set(result.start) == {a.id for a in problem.activities}


def test_same_seed_same_schedule_and_budget_is_exact():
    problem = random_problem(7, n=20, resources=3)
    a = solve(problem, budget_schedules=700, seed=3)
    b = solve(problem, budget_schedules=700, seed=3)
    assert a.start == b.start
    assert a.schedules == 700


def test_time_budget_returns_a_feasible_schedule():
    problem = random_problem(8, n=30, resources=3)
    result = solve(problem, budget_ms=50)
    check_feasible(problem, result)


def test_long_horizons_are_coarsened_and_stay_feasible():
    acts = [Activity(id=f"j{i}", duration=977 + 131 * i, demands={"slot": 1}, release=37 * i) for i in range(12)]
    problem = Problem(activities=acts, resources=[Resource(id="slot", capacity=3)])
    result = solve(problem, budget_schedules=200)
    check_feasible(problem, result)
    assert result.makespan >= sum(a.duration for a in acts) / 3


def test_problem_without_resources_or_activities():
    problem = Problem(activities=[Activity(id="a", duration=3), Activity(id="b", duration=2, predecessors=["a"])])
    result = solve(problem, budget_schedules=50)
    assert result.start == {"a": 0, "b": 3}
    empty = solve(Problem(activities=[]), budget_schedules=10)
    assert empty.start == {} and empty.makespan == 0


def test_checker_finds_each_kind_of_violation():
    problem = Problem(
        activities=[Activity(id="a", duration=3, demands={"r": 2}),
                    Activity(id="b", duration=2, demands={"r": 2}, predecessors=["a"], release=1),
                    Activity(id="c", duration=2, demands={"r": 1})],
        resources=[Resource(id="r", capacity=2)])
    found = violations(problem, {"a": 0, "b": 0, "c": 0})
    assert any("before its release" in v for v in found)
    assert any("before predecessor 'a'" in v for v in found)
    assert any("resource 'r' uses" in v for v in found)
    with pytest.raises(SchedulerError, match=r"^Schedule.check: "):
        check_feasible(problem, {"a": 0, "b": 3})


def test_unknown_solver_name():
    with pytest.raises(SchedulerError, match='No solver by the name "tabu" was found'):
        get_solver("tabu")
    assert {"ga", "lft", "minslack", "wspt", "cpsat"} <= set(solver_names())


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SchedulerError, match="no CUDA GPU"):
        solve(random_problem(1), device="cuda")


def test_guessed_horizon_decodes_like_the_full_one():
    from engine.scheduler.base import Budget
    from engine.scheduler.ga import _Run

    problem = random_problem(9, n=14, resources=3, releases=True)
    c = compile_problem(problem)
    gen = torch.Generator().manual_seed(0)
    keys = torch.stack([torch.randperm(c.n, generator=gen) for _ in range(40)])
    full = decode(c, keys)
    for guess in (1, 8, 20, c.horizon + 5):
        pop = _Run(c, Objective.makespan, Budget(schedules=100), 0).decode_guessed(keys, guess)
        assert torch.equal(pop.dec.start, full.start) and bool(pop.dec.valid.all())


def test_solve_restores_torch_threads():
    before = torch.get_num_threads()
    solve(random_problem(3, n=8), budget_schedules=50)
    assert torch.get_num_threads() == before
