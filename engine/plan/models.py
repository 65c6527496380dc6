"""The plan format: the one contract shared by the planner, recordings, the scheduler and the bots.

A ``Plan`` is a named list of ``Step``s. Steps form a DAG through ``depends_on``; a step that
leaves ``depends_on`` unset depends on the step before it, so a plain list is a chain. A ``Target``
is an ordered list of Playwright-style locators: the first that matches wins, the rest are
fallbacks. Values may hold ``{{ params.X }}``, ``{{ secrets.X }}`` and ``{{ outputs.X }}``.
This module imports nothing from the rest of the framework.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    field_validator,
    model_serializer,
    model_validator,
)

SCHEMA_VERSION = 1
TEMPLATE_RE = re.compile(r"\{\{\s*(params|secrets|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
STEP_ID_RE = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


class Action(str, Enum):
    """The closed set of verbs a step can perform."""

    goto = "goto"
    click = "click"
    fill = "fill"
    select = "select"
    check = "check"
    uncheck = "uncheck"
    press = "press"
    hover = "hover"
    upload = "upload"
    download = "download"
    wait_for = "wait_for"
    extract = "extract"
    assert_ = "assert"
    back = "back"


# Which of target/value each verb needs: (target, value). None = optional.
ACTION_NEEDS: dict[Action, tuple[bool | None, bool | None]] = {
    Action.goto: (False, True),
    Action.click: (True, False),
    Action.fill: (True, True),
    Action.select: (True, True),
    Action.check: (True, False),
    Action.uncheck: (True, False),
    Action.press: (None, True),
    Action.hover: (True, False),
    Action.upload: (True, True),
    Action.download: (True, False),
    Action.wait_for: (None, None),
    Action.extract: (None, False),
    Action.assert_: (None, None),
    Action.back: (False, False),
}

LOCATOR_KINDS = ("test_id", "role", "label", "placeholder", "alt_text", "text", "title", "css")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


class Locator(_Model):
    """One way to find an element, in Playwright's vocabulary (``get_by_role`` etc.)."""

    test_id: str | None = None
    role: str | None = None
    name: str | None = Field(None, description="Accessible name; only with role.")
    label: str | None = None
    placeholder: str | None = None
    alt_text: str | None = None
    text: str | None = None
    title: str | None = None
    css: str | None = Field(None, description="CSS or any Playwright selector string.")
    exact: bool = False
    nth: int | None = Field(None, description="Pick the n-th match (0-based) when several match.")

    @model_validator(mode="after")
    def _one_kind(self) -> Locator:
        kinds = [k for k in LOCATOR_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a locator needs exactly one of {', '.join(LOCATOR_KINDS)}; got {kinds or 'none'}"
            )
        if self.name is not None and self.role is None:
            raise ValueError("'name' is only allowed together with 'role'")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in LOCATOR_KINDS if getattr(self, k) is not None)

    def describe(self) -> str:
        """Short human form, e.g. ``role=button[name="Sign in"]``."""
        value = getattr(self, self.kind)
        out = f'{self.kind}="{value}"'
        if self.name is not None:
            out = f'role={self.role}[name="{self.name}"]'
        if self.nth is not None:
            out += f" >> nth={self.nth}"
        return out

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None and not (k == "exact" and v is False)}


class Target(RootModel[list[Locator]]):
    """Ordered locators for one element: the first is preferred, the others are fallbacks.

    YAML accepts a single mapping (one locator) or a list of them.
    """

    @model_validator(mode="before")
    @classmethod
    def _accept_single(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return [data]
        if isinstance(data, str):
            return [{"css": data}]
        return data

    @field_validator("root")
    @classmethod
    def _non_empty(cls, v: list[Locator]) -> list[Locator]:
        if not v:
            raise ValueError("a target needs at least one locator")
        return v

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> Any:
        data = handler(self)
        return data[0] if len(data) == 1 else data

    @property
    def locators(self) -> list[Locator]:
        return self.root

    def describe(self) -> str:
        return " | ".join(loc.describe() for loc in self.root)


class Expect(_Model):
    """Postconditions checked after a step; all that are set must hold."""

    url: str | None = Field(None, description="Regular expression the page URL must match (re.search).")
    visible: Target | None = None
    hidden: Target | None = None
    text: str | None = Field(None, description="Text that must be present on the page.")

    @model_validator(mode="after")
    def _something(self) -> Expect:
        if self.url is None and self.visible is None and self.hidden is None and self.text is None:
            raise ValueError("an expectation needs at least one of url, visible, hidden, text")
        if self.url is not None:
            try:
                re.compile(self.url)
            except re.error as err:
                raise ValueError(f"url is not a valid regular expression: {err}") from None
        return self

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


ExtractKind = Literal["text", "value", "attribute", "table", "count", "url"]


class Step(_Model):
    """One action. ``value`` means: the URL (goto), text (fill), option (select), key (press),
    file path (upload), expected text (assert), state or URL regex (wait_for)."""

    id: str = Field(pattern=STEP_ID_RE)
    action: Action
    description: str | None = None
    target: Target | None = None
    value: str | None = None
    output: str | None = Field(
        None, pattern=NAME_RE, description="Name under which extract/download store their result."
    )
    extract: ExtractKind = Field("text", description="What an extract step reads.")
    attribute: str | None = None
    expect: Expect | None = None
    timeout_ms: int | None = Field(None, gt=0)
    retries: int = Field(0, ge=0, le=10)
    keys: bool = Field(False, description="fill: type the value with key presses (pages that listen for keys).")
    dispatch: bool = Field(False, description="click: send a DOM click event (reaches an element under an overlay).")
    depends_on: list[str] | None = Field(
        None, description="Ids of steps that must finish first; unset = the previous step."
    )

    @field_validator("value", mode="before")
    @classmethod
    def _scalar_value(cls, v: Any) -> Any:
        # YAML turns `value: 42` or `value: yes` into non-strings; a plan value is always text.
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        return v

    @model_validator(mode="after")
    def _fits_action(self) -> Step:
        needs_target, needs_value = ACTION_NEEDS[self.action]
        verb = self.action.value
        if needs_target is True and self.target is None:
            raise ValueError(f"action '{verb}' needs a target")
        if needs_target is False and self.target is not None:
            raise ValueError(f"action '{verb}' takes no target")
        if needs_value is True and self.value is None:
            raise ValueError(f"action '{verb}' needs a value")
        if needs_value is False and self.value is not None:
            raise ValueError(f"action '{verb}' takes no value")
        if self.action is Action.extract:
            if self.output is None:
                raise ValueError("action 'extract' needs an output name")
            if self.extract == "attribute" and not self.attribute:
                raise ValueError("extract: attribute needs 'attribute'")
            if self.extract != "url" and self.target is None:
                raise ValueError(f"extract: {self.extract} needs a target")
        if self.action is Action.wait_for and self.target is None and self.value is None:
            raise ValueError("action 'wait_for' needs a target or a value (URL regex)")
        if self.action is Action.assert_ and self.target is None and self.expect is None:
            raise ValueError("action 'assert' needs a target or an expect")
        return self

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        defaults = {"extract": "text", "retries": 0, "keys": False, "dispatch": False}
        out = {}
        for k, v in data.items():
            if v is None or defaults.get(k, object()) == v:
                continue
            out[k] = v.value if isinstance(v, Action) else v
        return out


PARAM_TYPES = ("text", "number", "date", "email", "url")


class Param(_Model):
    default: str | None = None
    description: str | None = None
    # Optional, for tools that fill params from words (skills routing, MCP schemas): the kind of value
    # and, for a closed list, the values allowed.
    type: Literal["text", "number", "date", "email", "url"] | None = None
    choices: list[str] | None = None

    @field_validator("choices")
    @classmethod
    def _choices(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("'choices' needs at least one value (or leave it out)")
        return [str(c) for c in v] if v is not None else None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None or isinstance(data, (str, int, float, bool)):
            return {"default": None if data is None else str(data)}
        return data

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> Any:
        data = {k: v for k, v in handler(self).items() if v is not None}
        return data.get("default") if set(data) <= {"default"} else data


class Plan(_Model):
    """A bot script: what the LLM produces, what a recording stores, what a bot executes."""

    schema_version: int = SCHEMA_VERSION
    name: str = Field(min_length=1)
    description: str = ""
    instruction: str | None = None
    params: dict[str, Param] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    allowed_domains: list[str] = Field(default_factory=list, description=(
        "Hosts the bot may reach, each with its subdomains (host:port for one port only); empty: any host."))
    allow_file: bool = Field(False, description="Let the bot open file: URLs (refused by default).")
    idempotent: bool = Field(True, description="Safe to re-run automatically after a crash.")
    priority: float = Field(1.0, gt=0, description="Weight of this job in the scheduler.")
    resources: dict[str, int] = Field(
        default_factory=dict, description="Extra renewable resources this plan holds while it runs."
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {v} is not supported: this framework reads version {SCHEMA_VERSION}"
            )
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, Param]) -> dict[str, Param]:
        for name in v:
            if not re.match(NAME_RE, name):
                raise ValueError(f"parameter name '{name}' must be an identifier")
        return v

    @model_validator(mode="after")
    def _graph_and_refs(self) -> Plan:
        ids = [s.id for s in self.steps]
        seen: set[str] = set()
        for sid in ids:
            if sid in seen:
                raise ValueError(f"step id '{sid}' is used twice")
            seen.add(sid)
        for i, step in enumerate(self.steps):
            for dep in step.depends_on or []:
                if dep not in seen:
                    raise ValueError(f"step '{step.id}' depends on unknown step '{dep}'")
                if dep == step.id:
                    raise ValueError(f"step '{step.id}' depends on itself")
        order = topological_order(self)  # raises on a cycle
        outputs_before: dict[str, set[str]] = {}
        produced: dict[str, str] = {}
        for step in self.steps:
            if step.output:
                if step.output in produced:
                    raise ValueError(
                        f"output '{step.output}' is written by steps '{produced[step.output]}' and '{step.id}'"
                    )
                produced[step.output] = step.id
        ancestors = _ancestors(self)
        for sid in order:
            step = self.step(sid)
            outputs_before[sid] = {self.step(a).output for a in ancestors[sid] if self.step(a).output}
            for kind, name in step_templates(step):
                if kind == "params" and name not in self.params:
                    raise ValueError(f"step '{sid}' uses params.{name}, which the plan does not declare")
                if kind == "secrets" and name not in self.secrets:
                    raise ValueError(f"step '{sid}' uses secrets.{name}, which the plan does not declare")
                if kind == "outputs" and name not in outputs_before[sid]:
                    raise ValueError(
                        f"step '{sid}' uses outputs.{name}, which no earlier step it depends on produces"
                    )
        return self

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def dependencies(self) -> dict[str, list[str]]:
        """Resolved predecessors of each step (unset ``depends_on`` = the previous step)."""
        deps: dict[str, list[str]] = {}
        prev: str | None = None
        for s in self.steps:
            deps[s.id] = list(s.depends_on) if s.depends_on is not None else ([prev] if prev else [])
            prev = s.id
        return deps

    @model_serializer(mode="wrap")
    def _compact(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        keep_always = {"schema_version", "name", "steps"}
        defaults = {"description": "", "idempotent": True, "priority": 1.0}
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in keep_always:
                out[k] = v
            elif v is None or v == {} or v == [] or defaults.get(k, object()) == v:
                continue
            else:
                out[k] = v
        return out


def step_templates(step: Step) -> list[tuple[str, str]]:
    """Every ``{{ kind.name }}`` reference in a step's text fields."""
    texts = [step.value or ""]
    if step.expect is not None:
        texts += [step.expect.text or "", step.expect.url or ""]
    if step.target is not None:
        for loc in step.target.root:
            texts += [str(getattr(loc, k) or "") for k in LOCATOR_KINDS] + [loc.name or ""]
    return [(m.group(1), m.group(2)) for t in texts for m in TEMPLATE_RE.finditer(t)]


def topological_order(plan: Plan) -> list[str]:
    """Kahn's algorithm, stable in file order; raises ValueError naming a step on a cycle."""
    deps = plan.dependencies()
    remaining = {sid: set(d) for sid, d in deps.items()}
    order: list[str] = []
    while remaining:
        ready = [sid for sid in deps if sid in remaining and not remaining[sid]]
        if not ready:
            stuck = sorted(remaining)
            raise ValueError(f"steps form a cycle through {', '.join(stuck)}")
        for sid in ready:
            order.append(sid)
            del remaining[sid]
            for other in remaining.values():
                other.discard(sid)
    return order


def _ancestors(plan: Plan) -> dict[str, set[str]]:
    deps = plan.dependencies()
    memo: dict[str, set[str]] = {}

    def visit(sid: str) -> set[str]:
        if sid not in memo:
            acc: set[str] = set()
            for d in deps[sid]:
                acc |= {d} | visit(d)
            memo[sid] = acc
        return memo[sid]

    for sid in deps:
        visit(sid)
    return memo
