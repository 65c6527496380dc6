"""Every error the framework raises on purpose, and the one table of what each kind of failure means.

Messages read "Component.verb: what happened (ids/values). How to fix." and fit one line, so the
CLI can print ``str(err)`` and exit non-zero. Each error class names its ``FailureKind``; whether a
failure is retried, repaired or final is read from the kind (``retryable``, ``repairable``), never
from message text. An exception that is not ours counts as ``application`` (retried): one rule
for every path.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar


class FailureKind(str, Enum):
    """What went wrong, as stored in ``error_kind`` of steps, runs and history rows."""

    business = "business"                    # the site refused the work (invalid data, a failed assert)
    application = "application"              # transient or technical: timeout, HTTP 5xx, a hiccup
    target_missing = "target_missing"        # no element matches the step's target (the page changed?)
    target_ambiguous = "target_ambiguous"    # several elements match: clicking one would be a guess
    expectation_unmet = "expectation_unmet"  # the step ran but its postcondition never held
    browser_crashed = "browser_crashed"      # the browser or the page died under the bot
    input_missing = "input_missing"          # a parameter or secret the plan needs was not given
    configuration = "configuration"          # a setting, a file or the plan itself is wrong
    domain_blocked = "domain_blocked"        # the page tried to leave the allowed domains
    goal_unmet = "goal_unmet"                # the planner could not do (or confirm) part of the instruction

    @property
    def retryable(self) -> bool:
        """Another attempt of the same plan may succeed."""
        return self in _RETRYABLE

    @property
    def repairable(self) -> bool:
        """The plan may be right but the page changed: a new target or expectation may fix it."""
        return self in _REPAIRABLE

    @property
    def final(self) -> bool:
        """The user's to act on, never retried (history: ``failed_business``); else ``failed_application``."""
        return self in _FINAL

    @classmethod
    def of(cls, err: BaseException) -> FailureKind:
        """The kind of any exception: ours name theirs; anything else is an application error."""
        return err.kind if isinstance(err, RpaError) else cls.application


_RETRYABLE = frozenset({FailureKind.application, FailureKind.target_missing, FailureKind.expectation_unmet,
                        FailureKind.browser_crashed})
_REPAIRABLE = frozenset({FailureKind.target_missing, FailureKind.target_ambiguous, FailureKind.expectation_unmet})
_FINAL = frozenset({FailureKind.business, FailureKind.input_missing, FailureKind.configuration,
                    FailureKind.domain_blocked, FailureKind.goal_unmet})


class RpaError(Exception):
    """Base of every framework error; ``message`` is the one line a user sees."""

    kind: ClassVar[FailureKind] = FailureKind.application

    def __init__(self, message: str, *, call_log: list[str] | None = None) -> None:
        self.message = message
        self.call_log = list(call_log or [])
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def full(self) -> str:
        """The message plus a Playwright-style call log, for reports and ``--debug``."""
        if not self.call_log:
            return self.message
        return self.message + "\nCall log:\n" + "\n".join(f"  - {line}" for line in self.call_log)


class ConfigError(RpaError):
    """A setting, a file path or an environment variable is wrong."""

    kind = FailureKind.configuration


class PlanValidationError(RpaError):
    """A plan file or plan object breaks the plan format."""

    kind = FailureKind.configuration

    def __init__(self, path: str, reason: str, *, line: int | None = None, field: str | None = None):
        self.path, self.reason, self.line, self.field = path, reason, line, field
        where = path + (f":{line}" if line else "")
        at = f" at {field}" if field else ""
        super().__init__(f"Plan.validate: {where}{at}: {reason}")


class MissingInputError(RpaError):
    """A parameter or secret the plan needs was not given."""

    kind = FailureKind.input_missing

    def __init__(self, kind: str, name: str, hint: str):
        self.input_kind, self.name = kind, name
        super().__init__(f"Plan.render: missing {kind} '{name}'. {hint}")


class BusinessError(RpaError):
    """The application refused the work (invalid data, no such record, a failed assert). Not retried."""

    kind = FailureKind.business

    def __init__(self, step_id: str | None, reason: str, **kw):
        self.step_id, self.reason = step_id, reason
        super().__init__(f"Step '{step_id}': {reason}" if step_id else reason, **kw)


class ApplicationError(RpaError):
    """Something transient or technical went wrong (timeout, HTTP 5xx, crash). Retried with backoff."""

    kind = FailureKind.application

    def __init__(self, step_id: str | None, reason: str, **kw):
        self.step_id, self.reason = step_id, reason
        super().__init__(f"Step '{step_id}': {reason}" if step_id else reason, **kw)


class StepTimeoutError(ApplicationError):
    def __init__(self, step_id: str, timeout_ms: int, what: str, **kw):
        self.timeout_ms = timeout_ms
        super().__init__(step_id, f"timed out after {timeout_ms} ms waiting for {what}", **kw)


class ElementNotFoundError(ApplicationError):
    """No locator of a target matched (after waiting); the page may have changed: repair may help."""

    kind = FailureKind.target_missing


class AmbiguousTargetError(ApplicationError):
    """A locator matched several elements; Playwright's strictness would click the wrong one."""

    kind = FailureKind.target_ambiguous


class ExpectationError(ApplicationError):
    """The step acted but its ``expect`` never held within the step's time."""

    kind = FailureKind.expectation_unmet


class BrowserCrashedError(ApplicationError):
    """The browser, its context or the page closed under the bot."""

    kind = FailureKind.browser_crashed


class DomainBlockedError(BusinessError):
    """The page tried to reach a host outside the plan's allowed domains."""

    kind = FailureKind.domain_blocked

    def __init__(self, step_id: str | None, host: str, allowed: list[str], **kw):
        self.host, self.allowed = host, allowed
        super().__init__(
            step_id,
            f"request to '{host}' blocked: not in allowed domains {allowed}. "
            "Add it to the plan's allowed_domains if it is trusted.",
            **kw,
        )


class SchemeBlockedError(DomainBlockedError):
    """The page tried to load a URL that is not http(s)/ws(s) (``file:``, ``chrome:``...)."""

    def __init__(self, step_id: str | None, url: str, **kw):
        self.host, self.allowed, self.url = url, [], url
        scheme = url.split(":", 1)[0].lower()
        fix = ("Set allow_file: true in the plan if it must read local files." if scheme == "file"
               else "Plans load only http(s) and ws(s) URLs.")
        BusinessError.__init__(self, step_id, f"{scheme}: URL blocked ({url[:100]}). {fix}", **kw)


class GoalError(BusinessError):
    """The planner could not find how to do a part of the instruction, or could not confirm it was done."""

    kind = FailureKind.goal_unmet

    def __init__(self, part: str, reason: str, **kw):
        self.part = part
        super().__init__(None, reason, **kw)


class PlannerError(RpaError):
    """The planner backend failed or timed out (a model that will not load, a server that is down)."""


class SchedulerError(RpaError):
    """A scheduling problem is malformed (cycle, demand above capacity, negative duration)."""

    kind = FailureKind.configuration


class SecretError(RpaError):
    """The secret store is missing a secret, its key, or cannot decrypt."""

    kind = FailureKind.input_missing
