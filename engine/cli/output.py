"""Printing a benchmark's result: one JSON object with ``--json``, else aligned ``key: value`` lines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def print_result(result: dict[str, Any], *, as_json: bool, console: Console, width: int = 24) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    for key, value in result.items():
        console.print(f"{key:>{width}}: {value}", highlight=False)
