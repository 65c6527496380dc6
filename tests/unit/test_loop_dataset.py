"""``export-dataset``: decisions from history as JSON lines, secret values masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import get_settings
from engine.errors import ConfigError
from engine.history import History
from engine.logs import register_secret
from engine.loop.dataset import export_dataset


def test_export_masks_secrets(tmp_path: Path) -> None:
    settings = get_settings().ensure()
    history = History(settings)
    history.record_decision(run_id="r1", step_id="user", instruction="log in", observation="[1]<textbox User>",
                            action={"id": "user", "action": "fill", "value": "alice"}, outcome="succeeded")
    secret = "s3cr3t-value-xyz"
    history.record_decision(run_id="r1", step_id="pw", instruction="log in",
                            observation=f"[2]<textbox Password> {secret}",
                            action={"id": "pw", "action": "fill", "value": "{{ secrets.password }}"},
                            outcome="failed")
    register_secret(secret)
    out = tmp_path / "data.jsonl"
    assert export_dataset(out, settings=settings) == 2
    text = out.read_text()
    assert secret not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows[0]["action"]["action"] == "fill" and rows[1]["outcome"] == "failed"
    assert export_dataset(tmp_path / "ok.jsonl", settings=settings, only_succeeded=True) == 1
    with pytest.raises(ConfigError, match=r"^Dataset.export: .* exists"):
        export_dataset(out, settings=settings)
