"""Data of skills routing: the skills of a library, and what the router decided for one instruction."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.plan import Plan


class Skill(BaseModel):
    """One recorded bot of the library: a plan file, with what a router or an MCP client needs to know."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    path: Path
    plan: Plan
    source: str = Field(description="Which library folder it came from: project, home, env or option.")

    @property
    def description(self) -> str:
        return self.plan.description

    @property
    def params(self) -> list[str]:
        return list(self.plan.params)

    @property
    def secrets(self) -> list[str]:
        return list(self.plan.secrets)

    def summary_json(self) -> dict:
        """What ``rpa skills list --json`` prints: never a secret value (plans hold only secret names)."""
        return {
            "name": self.name, "path": str(self.path), "source": self.source, "description": self.description,
            "params": {k: p.model_dump(exclude_none=True) for k, p in self.plan.params.items()},
            "secrets": self.secrets, "steps": len(self.plan.steps),
        }


class RouteStatus(str, Enum):
    routed = "routed"  # one skill, or an ordered sequence of skills, runs
    none = "none"  # no skill fits: the open-world planner may take the instruction
    ambiguous = "ambiguous"  # below the confidence threshold: nothing runs


class Candidate(BaseModel):
    """One skill as the router saw it: its combined probability and the evidence behind it."""

    name: str
    prob: float = Field(description="Share of the probability mass, 'none' included.")
    lexical: float = 0.0
    model: float | None = Field(None, description="The model's share, when the model was asked.")


class Filled(BaseModel):
    """A param value and where it came from (a span of the instruction, or one of the param's choices)."""

    value: str
    source: str = Field(description="'span', 'choice', or 'option' (the start URL given with the instruction).")
    start: int = Field(-1, description="Character offset of the span in the instruction.")
    end: int = Field(-1, description="Where the span ends (a date written out is longer than its value).")


class ChosenSkill(BaseModel):
    """One skill the instruction routes to, with the params the instruction states."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    path: Path
    plan: Plan
    part: str = Field(description="The part of the instruction this skill does (all of it for one skill).")
    params: dict[str, Filled] = Field(default_factory=dict)
    confidence: float = 0.0

    def values(self) -> dict[str, str]:
        return {k: f.value for k, f in self.params.items()}


class Routing(BaseModel):
    """The router's answer for one instruction; ``reason`` is the one line the CLI prints."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    instruction: str
    status: RouteStatus
    chosen: list[ChosenSkill] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list, description="Best first.")
    confidence: float = 0.0
    reason: str = ""
    seconds: float = 0.0
    model_calls: int = 0

    @property
    def ok(self) -> bool:
        return self.status is RouteStatus.routed

    def names(self) -> list[str]:
        return [c.name for c in self.chosen]

    def summary_json(self) -> dict:
        return {
            "instruction": self.instruction, "status": self.status.value, "reason": self.reason,
            "confidence": round(self.confidence, 4),
            "skills": [{"name": c.name, "path": str(c.path), "part": c.part, "params": c.values(),
                        "confidence": round(c.confidence, 4)} for c in self.chosen],
            "candidates": [c.model_dump() for c in self.candidates[:5]],
            "seconds": round(self.seconds, 4), "model_calls": self.model_calls,
        }
