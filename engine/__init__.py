"""RPA engine: the plan format, planner, scheduler, loop, history, jobs and CLI."""

from loguru import logger

from engine.errors import (
    ApplicationError,
    BusinessError,
    ConfigError,
    DomainBlockedError,
    MissingInputError,
    PlannerError,
    PlanValidationError,
    RpaError,
    SchedulerError,
    SecretError,
    StepTimeoutError,
)
from engine.plan import Action, Expect, Locator, Plan, Step, Target, dump_plan, load_plan, parse_plan, save_plan

logger.disable("engine")

__all__ = [
    "Action",
    "ApplicationError",
    "BusinessError",
    "ConfigError",
    "DomainBlockedError",
    "Expect",
    "Locator",
    "MissingInputError",
    "Plan",
    "PlanValidationError",
    "PlannerError",
    "RpaError",
    "SchedulerError",
    "SecretError",
    "Step",
    "StepTimeoutError",
    "Target",
    "dump_plan",
    "load_plan",
    "parse_plan",
    "save_plan",
]
