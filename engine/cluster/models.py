"""What travels between the coordinator and a worker: plain, picklable, secret-free."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.outcome import RunOutcome


class ClusterOptions(BaseModel):
    """Where the loop's bots run when they run on a cluster, and how to reach it."""

    address: str
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    connect_timeout_s: float = 10.0
    wait_workers_s: float = Field(30.0, description="How long to wait for the first worker with a browser.")
    prefetch: int | None = Field(None, description="Jobs handed out beyond the free slots (default: half of them).")

    @classmethod
    def of(cls, cluster: str | ClusterOptions) -> ClusterOptions:
        return cluster if isinstance(cluster, ClusterOptions) else cls(address=cluster)


class ClusterJob(BaseModel):
    """One bot job as sent to a worker. Secrets are referenced by name only (in the plan): the
    worker resolves them from its own store, so no secret value is ever in a task argument."""

    run_id: str
    plan_yaml: str
    params: dict[str, str] = Field(default_factory=dict)
    attempt: int = Field(1, ge=1, description="The coordinator's attempt; a re-run after a worker died is +1.")
    idempotent: bool = True
    default_timeout_ms: int = 10_000
    screenshots: bool = True


class ClusterResult(BaseModel):
    """What a worker sends back: the outcome, which attempt ran it where, and the run folder zipped."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str = Field(description="The run this result is for; differs from the job's on a re-run.")
    attempt: int
    worker: str
    outcome: RunOutcome | None = None
    worker_run_dir: str | None = Field(None, description="Where the worker ran it (rewritten on arrival).")
    artifacts_zip: bytes = b""
    observation: Any = Field(None, description="bots.observe.Observation of the failed page, for repair.")
    rerun_of: str | None = Field(None, description="The run whose worker died; this is its re-run.")
    lost_worker: str | None = Field(None, description="The worker that died during the first attempt.")
    held_for_person: bool = Field(
        False, description="A non-idempotent job whose worker died mid-run: not re-run automatically."
    )
    message: str | None = None
