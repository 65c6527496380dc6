"""All configuration in one place, with defaults that work offline.

Every setting has an ``RPA_*`` environment variable; nothing else reads the environment.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field

SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PRIVATE_UMASK = 0o077  # files under RPA_HOME are the owner's only (see Settings.ensure)
# A plan file larger than this is refused before parsing (a 10 MB YAML took 25 s and 400 MB).
PLAN_MAX_BYTES_DEFAULT = 1_000_000


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def default_home() -> Path:
    return Path(_env("RPA_HOME") or Path.home() / ".local" / "share" / "rpa").expanduser()


def find_chromium() -> str | None:
    """System Chromium where present (Debian), else None: Playwright's own download is used."""
    explicit = _env("RPA_CHROMIUM")
    if explicit:
        return explicit
    for path in SYSTEM_CHROMIUM:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


class Settings(BaseModel):
    home: Path = Field(default_factory=default_home)
    db_url: str | None = Field(default_factory=lambda: _env("RPA_DB"))
    chromium: str | None = Field(default_factory=find_chromium)
    headless: bool = Field(default_factory=lambda: _env("RPA_HEADED", "0") != "1")
    # Playwright trace of a failed run: "on-failure" (actions, network, console), "full" (adds a DOM
    # snapshot per action, about 12 % slower runs), or "off".
    trace: str = Field(default_factory=lambda: (_env("RPA_TRACE", "on-failure") or "on-failure").lower())
    step_timeout_ms: int = Field(default_factory=lambda: int(_env("RPA_STEP_TIMEOUT_MS", "10000") or 10000))
    planner_backend: str = Field(default_factory=lambda: _env("RPA_PLANNER_BACKEND", "local") or "local")
    model: str | None = Field(default_factory=lambda: _env("RPA_MODEL"))
    openai_base_url: str | None = Field(default_factory=lambda: _env("RPA_OPENAI_BASE_URL"))
    openai_model: str | None = Field(default_factory=lambda: _env("RPA_OPENAI_MODEL"))
    openai_api_key_env: str = Field(default_factory=lambda: _env("RPA_OPENAI_API_KEY_ENV", "OPENAI_API_KEY") or "OPENAI_API_KEY")
    # Seconds one request may take, and further tries (with backoff) after a timeout, 5xx or 429.
    openai_timeout_s: float = Field(default_factory=lambda: float(_env("RPA_OPENAI_TIMEOUT", "30") or 30))
    openai_retries: int = Field(default_factory=lambda: int(_env("RPA_OPENAI_RETRIES", "2") or 2))
    # How the server's answer is held to the options: auto (the first the server accepts of
    # json_schema, json_object, grammar, none), or one of them only.
    openai_constrain: str = Field(default_factory=lambda: (_env("RPA_OPENAI_CONSTRAIN", "auto") or "auto").lower())
    # llama.cpp in process: context size in tokens and CPU threads (unset: as the torch backend).
    llama_ctx: int = Field(default_factory=lambda: int(_env("RPA_LLAMA_CTX", "4096") or 4096))
    llama_threads: int | None = Field(default_factory=lambda: int(v) if (v := _env("RPA_LLAMA_THREADS")) else None)
    device: str | None = Field(default_factory=lambda: _env("RPA_DEVICE"))
    # CPU threads for the planner's model; unset = half the cores (busy spinning threads slow it down a lot).
    torch_threads: int | None = Field(default_factory=lambda: int(v) if (v := _env("RPA_TORCH_THREADS")) else None)
    webhook_url: str | None = Field(default_factory=lambda: _env("RPA_WEBHOOK_URL"))
    cluster: str | None = Field(default_factory=lambda: _env("RPA_CLUSTER"))  # Dask scheduler address
    smtp_host: str | None = Field(default_factory=lambda: _env("RPA_SMTP_HOST"))  # "host" or "host:port"
    smtp_to: str | None = Field(default_factory=lambda: _env("RPA_SMTP_TO"))
    smtp_from: str | None = Field(default_factory=lambda: _env("RPA_SMTP_FROM"))
    plan_max_bytes: int = Field(
        default_factory=lambda: int(_env("RPA_PLAN_MAX_BYTES", str(PLAN_MAX_BYTES_DEFAULT)) or PLAN_MAX_BYTES_DEFAULT))
    # More skill folders for routing and `rpa mcp` (os.pathsep-separated), after recordings/ and RPA_HOME/skills.
    skills_path: str | None = Field(default_factory=lambda: _env("RPA_SKILLS"))

    model_config = {"arbitrary_types_allowed": True}

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'rpa.db'}"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def skills_dir(self) -> Path:
        return self.home / "skills"

    @property
    def cache_dir(self) -> Path:
        """Converted model weights and other re-creatable data (``RPA_CACHE_DIR`` to share it)."""
        return Path(_env("RPA_CACHE_DIR") or self.home / "cache").expanduser()

    def ensure(self) -> Settings:
        """Create RPA_HOME for its owner only. Runs, traces, screenshots and the database hold what
        pages showed, so the process umask becomes 077: every file this process and its children
        (Playwright's driver, Chromium) create from now on is 0600, every folder 0700."""
        os.umask(PRIVATE_UMASK)
        for d in (self.home, self.runs_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(d, 0o700)  # a home made by an older release (0755) is closed too
        self.cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # may be shared: left as found
        return self


def get_settings() -> Settings:
    """Read the environment now (tests set RPA_HOME per test, so no global cache)."""
    return Settings()


@contextmanager
def env_overrides(**values: str) -> Iterator[None]:
    """Set ``RPA_*`` variables for a block (benchmarks run in a temporary home), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
