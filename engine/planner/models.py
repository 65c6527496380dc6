"""Data of the planner: its decisions (what the trainer learns from) and the result of a planning run."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import RpaError
from engine.plan import Plan


class Decision(BaseModel):
    """One choice of the planner: what the trainer learns from and what the history stores."""

    instruction: str
    goal: str = ""
    observation: str
    history: list[str] = Field(default_factory=list)
    action: dict[str, Any] = Field(description="The chosen step, as plan JSON (locators, not refs).")
    answer: str = Field(description="The chosen action in the decision format.")
    candidates: list[str] = Field(default_factory=list)
    scores: list[float] = Field(default_factory=list)
    llm: bool = Field(False, description="Whether the model was asked (false: one candidate was clear).")
    prompt_tokens: int = 0
    seconds: float = 0.0
    outcome: str | None = None


class PlanningResult(BaseModel):
    """What one planning run gives back: the plan of the performed steps and how it went."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: Plan
    decisions: list[Decision] = Field(default_factory=list)
    llm_calls: int = 0
    error: RpaError | None = Field(None, description="Why the instruction was not done (a GoalError names the part).")
    confirmation: str | None = Field(None, description="What on the page showed the goal was reached.")
    seconds: float = 0.0


def decisions_by_step(plan: Plan, decisions: list[Decision]) -> dict[str, Decision]:
    """Step id -> the decision that made it (each performed decision records its step as plan JSON)."""
    by_id = {d.action.get("id"): d for d in decisions if d.outcome == "performed" and d.action}
    return {s.id: by_id[s.id] for s in plan.steps if s.id in by_id}
