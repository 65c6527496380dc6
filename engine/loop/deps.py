"""What the loop needs from the rest of the framework, passed in as one dataclass.

``LoopDeps.default(settings, cluster=...)`` is where the loop is composed: the real planner, history,
reports and the runtime (bots in this process, or Dask workers when a cluster address is given).
Tests swap a part (a scripted runtime, no planner).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.config import Settings, get_settings
from engine.history import History
from engine.inputs import SecretResolver, secret_resolver
from engine.loop.runtime import LocalRuntime, Runtime

if TYPE_CHECKING:
    from engine.cluster.models import ClusterOptions
    from engine.planner import Planner

# (concurrency, headed) -> the runtime a batch runs its replays on.
RuntimeFactory = Callable[[int, bool], Runtime]


def _planner_factory(settings: Settings) -> Callable[[], Planner]:
    def make() -> Planner:
        from engine.planner import get_planner

        return get_planner(settings)

    return make


@dataclass
class LoopDeps:
    settings: Settings
    history: History
    planner_factory: Callable[[], Planner | None]
    runtime_factory: RuntimeFactory
    secret: SecretResolver
    solver: str = "ga"
    reports: bool = True
    repair_with_planner: bool = True
    backoff_base_s: float = 0.25
    # Planning acts on a live page next to the model: always bots of this process.
    planning_runtime_factory: Callable[[bool], LocalRuntime] | None = None

    @classmethod
    def default(cls, settings: Settings | None = None, *, secrets: Mapping[str, str] | None = None,
                cluster: str | ClusterOptions | None = None) -> LoopDeps:
        settings = (settings or get_settings()).ensure()
        history = History(settings)
        secret = secret_resolver(settings, secrets)
        runtime_factory: RuntimeFactory = lambda _size, headed: LocalRuntime(settings, headed=headed)  # noqa: E731
        if cluster:
            from engine.cluster import ClusterRuntime, resolved_on_worker
            from engine.cluster.models import ClusterOptions

            options = ClusterOptions.of(cluster)
            runtime_factory = lambda _size, _headed: ClusterRuntime(options, settings, history)  # noqa: E731
            secret = resolved_on_worker
        return cls(settings=settings, history=history, planner_factory=_planner_factory(settings),
                   runtime_factory=runtime_factory, secret=secret,
                   planning_runtime_factory=lambda headed: LocalRuntime(settings, headed=headed))
