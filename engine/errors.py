"""Every error the framework raises on purpose.

Messages read "Component.verb: what happened (ids/values). How to fix." and fit one line, so the
CLI can print ``str(err)`` and exit non-zero. ``BusinessError`` is never retried (the site said no);
``ApplicationError`` is retried with backoff (the site or the browser hiccupped).
"""

from __future__ import annotations


class RpaError(Exception):
    """Base of every framework error; ``message`` is the one line a user sees."""

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


class PlanValidationError(RpaError):
    """A plan file or plan object breaks the plan format."""

    def __init__(self, path: str, reason: str, *, line: int | None = None, field: str | None = None):
        self.path, self.reason, self.line, self.field = path, reason, line, field
        where = path + (f":{line}" if line else "")
        at = f" at {field}" if field else ""
        super().__init__(f"Plan.validate: {where}{at}: {reason}")


class MissingInputError(RpaError):
    """A parameter or secret the plan needs was not given."""

    def __init__(self, kind: str, name: str, hint: str):
        self.kind, self.name = kind, name
        super().__init__(f"Plan.render: missing {kind} '{name}'. {hint}")


class BusinessError(RpaError):
    """The application refused the work (invalid data, no such record, a failed assert). Not retried."""

    def __init__(self, step_id: str, reason: str, **kw):
        self.step_id, self.reason = step_id, reason
        super().__init__(f"Step '{step_id}': {reason}", **kw)


class ApplicationError(RpaError):
    """Something transient or technical went wrong (timeout, HTTP 5xx, crash). Retried with backoff."""

    def __init__(self, step_id: str, reason: str, **kw):
        self.step_id, self.reason = step_id, reason
        super().__init__(f"Step '{step_id}': {reason}", **kw)


class StepTimeoutError(ApplicationError):
    def __init__(self, step_id: str, timeout_ms: int, what: str, **kw):
        self.timeout_ms = timeout_ms
        super().__init__(step_id, f"timed out after {timeout_ms} ms waiting for {what}", **kw)


class ElementNotFoundError(ApplicationError):
    """No locator of a target matched (after waiting); the page may have changed: repair may help."""


class AmbiguousTargetError(ApplicationError):
    """A locator matched several elements; Playwright's strictness would click the wrong one."""


class DomainBlockedError(BusinessError):
    """The page tried to reach a host outside the plan's allowed domains."""

    def __init__(self, step_id: str, host: str, allowed: list[str], **kw):
        self.host, self.allowed = host, allowed
        super().__init__(
            step_id,
            f"request to '{host}' blocked: not in allowed domains {allowed}. "
            "Add it to the plan's allowed_domains if it is trusted.",
            **kw,
        )


class PlannerError(RpaError):
    """The planner backend failed, timed out, or could not build a valid plan."""


class SchedulerError(RpaError):
    """A scheduling problem is malformed (cycle, demand above capacity, negative duration)."""


class SecretError(RpaError):
    """The secret store is missing a secret, its key, or cannot decrypt."""
