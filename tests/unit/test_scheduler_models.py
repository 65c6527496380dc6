"""Bad problems fail at construction with an error naming the activity."""

from __future__ import annotations

import pytest

from engine.errors import SchedulerError
from engine.scheduler import Activity, Problem, Resource


def test_cycle_names_the_activities():
    acts = [Activity(id="a", duration=1, predecessors=["c"]), Activity(id="b", duration=1, predecessors=["a"]),
            Activity(id="c", duration=1, predecessors=["b"]), Activity(id="d", duration=1, predecessors=["c"])]
    with pytest.raises(SchedulerError, match=r"^Problem.validate: precedence cycle .*'a'") as err:
        Problem(activities=acts)
    assert all(k in err.value.message for k in ("a", "b", "c")) and "'d'" not in err.value.message


def test_self_loop_is_a_cycle():
    with pytest.raises(SchedulerError, match=r"precedence cycle a -> a"):
        Problem(activities=[Activity(id="a", duration=1, predecessors=["a"])])


def test_demand_above_capacity():
    with pytest.raises(SchedulerError, match=r"^Problem.validate: activity 'big' demands 3 of 'slots' but its "
                                             r"capacity is 2"):
        Problem(activities=[Activity(id="big", duration=1, demands={"slots": 3})],
                resources=[Resource(id="slots", capacity=2)])


def test_negative_duration_names_the_activity():
    with pytest.raises(SchedulerError, match=r"^Problem.validate: activity 'x' has negative duration -2"):
        Activity(id="x", duration=-2)


def test_unknown_predecessor_and_resource():
    with pytest.raises(SchedulerError, match=r"activity 'b' has unknown predecessor 'zz'"):
        Problem(activities=[Activity(id="b", duration=1, predecessors=["zz"])])
    with pytest.raises(SchedulerError, match=r"activity 'b' demands unknown resource 'gpu'"):
        Problem(activities=[Activity(id="b", duration=1, demands={"gpu": 1})])


def test_duplicate_ids_and_negative_values():
    with pytest.raises(SchedulerError, match=r"activity id 'a' appears twice"):
        Problem(activities=[Activity(id="a", duration=1), Activity(id="a", duration=2)])
    with pytest.raises(SchedulerError, match=r"resource 'r' has capacity -1"):
        Resource(id="r", capacity=-1)
    with pytest.raises(SchedulerError, match=r"activity 'a' demands -1 < 0 of 'r'"):
        Activity(id="a", duration=1, demands={"r": -1})
