"""Shared fixtures: a temp RPA_HOME per test, one sandbox site and one Chromium per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def rpa_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own RPA_HOME; converted model weights are shared in the repo's .cache."""
    home = tmp_path / "rpa-home"
    monkeypatch.setenv("RPA_HOME", str(home))
    monkeypatch.setenv("RPA_CACHE_DIR", str(REPO / ".cache"))
    monkeypatch.setenv("RPA_SECRET_KEY", "test-key-not-secret-0123456789")
    monkeypatch.delenv("RPA_DB", raising=False)
    return home


@pytest.fixture(scope="session")
def sandbox():
    """The bundled sandbox site on 127.0.0.1 (no flakiness, no drift)."""
    from bots.sandbox import start_sandbox

    server = start_sandbox(port=0)
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def browser():
    """One headless Chromium for the whole run; tests open their own contexts."""
    from bots.browser import BrowserConfig, launch

    async with launch(BrowserConfig()) as b:
        yield b


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RPA_SKIP_CUDA_TESTS") == "1":
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="no CUDA device on this machine")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)
