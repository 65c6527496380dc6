"""The plan format (see ``models``) and its YAML form (see ``yamlio``)."""

from engine.plan.models import (
    ACTION_NEEDS,
    SCHEMA_VERSION,
    Action,
    Expect,
    Locator,
    Param,
    Plan,
    Step,
    Target,
    topological_order,
)
from engine.plan.yamlio import dump_plan, load_plan, next_version_path, parse_plan, plan_from_data, save_plan

__all__ = [
    "ACTION_NEEDS",
    "SCHEMA_VERSION",
    "Action",
    "Expect",
    "Locator",
    "Param",
    "Plan",
    "Step",
    "Target",
    "dump_plan",
    "load_plan",
    "next_version_path",
    "parse_plan",
    "plan_from_data",
    "save_plan",
    "topological_order",
]
