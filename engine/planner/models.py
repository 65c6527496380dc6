"""Data of the planner: sub-goals, candidate actions, decisions and results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.plan import Plan

Verb = Literal["click", "fill", "select", "check", "uncheck", "press"]


class Goal(BaseModel):
    """One sub-goal of an instruction, found without the model (see ``goals.decompose``)."""

    model_config = ConfigDict(frozen=True)

    verb: Literal["click", "fill", "select", "check", "uncheck", "submit", "focus"]
    text: str = Field(description="The words of the instruction that describe this goal.")
    target: str = Field("", description="Words naming the element (without the value).")
    value: str | None = None
    context: str = Field("", description="Words that name the element's surroundings ('for @kenda').")
    ordinal: int | None = Field(None, description="1-based; -1 = last ('the 3rd textbox').")
    repeat: bool = Field(False, description="Do it for every matching element ('into both fields').")
    optional: bool = False
    free_values: tuple[str, ...] = Field((), description="Unquoted words to spread over form fields.")
    affixes: tuple[str, str] | None = Field(None, description="('starts with', 'ends with') of the element's name.")


class Candidate(BaseModel):
    """One allowed action on the current observation."""

    model_config = ConfigDict(frozen=True)

    verb: Verb
    ref: str
    value: str | None = None
    answer: str = Field(description="The action in the decision format (prompts.format_action).")
    lexical: float = 0.0
    model: float | None = None
    score: float = 0.0


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


class PlanResult(BaseModel):
    """What ``Planner.plan`` returns."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: Plan
    llm_calls: int = 0
    from_cache: bool = False
    seconds: float = 0.0
    decisions: list[Decision] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="Sub-goals nothing on the page matched.")


def decisions_by_step(plan: Plan, decisions: list[Decision]) -> dict[str, Decision]:
    """Step id -> the decision that made it. ``build_plan`` numbers the performed decisions' steps
    s2, s3, ... after the opening goto; a pair whose targets differ is left out."""
    done = [d for d in decisions if d.outcome == "done"]
    out: dict[str, Decision] = {}
    for step, made in zip(plan.steps[1:], done):
        if step.target is not None and made.action.get("target") == step.target.model_dump(mode="json"):
            out[step.id] = made
    return out
