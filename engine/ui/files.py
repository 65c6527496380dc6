"""A run's files (report, step pictures, downloads, trace, log), served from inside its folder only.

The requested path is resolved (``..``, symlinks) and must still lie inside the run's folder.
Pictures are shown inline; the report is shown under a policy that runs no script; everything
else (downloads, trace.zip, the log) is sent as an attachment that the browser does not render on
the dashboard's origin.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from engine.config import Settings
from engine.history import RunRecord
from engine.logs import mask

INLINE_IMAGES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}
TEXT_SUFFIXES = {".html", ".htm", ".jsonl", ".json", ".txt", ".log", ".csv"}
REPORT_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class RunFile:
    path: Path
    media_type: str
    inline: bool
    headers: dict[str, str]


def run_folder(record: RunRecord, settings: Settings) -> Path:
    return Path(record.run_dir).expanduser() if record.run_dir else settings.runs_dir / record.id


def resolve_run_file(record: RunRecord, settings: Settings, relative: str) -> RunFile | None:
    """The file ``relative`` names inside the run's folder, or None (missing, a folder, or outside)."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        return None
    base = run_folder(record, settings).resolve()
    if not base.is_relative_to(settings.runs_dir.resolve()):  # a history row naming some other folder
        return None
    try:
        target = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or target == base or not target.is_file():
        return None
    suffix = target.suffix.lower()
    if suffix in INLINE_IMAGES:
        return RunFile(target, mimetypes.guess_type(target.name)[0] or "image/png", True, {})
    if target == (base / "report.html").resolve():
        return RunFile(target, "text/html; charset=utf-8", True, {"content-security-policy": REPORT_POLICY})
    # Anything a run downloaded could be hostile HTML: never render it on our origin.
    return RunFile(target, "application/octet-stream", False, {"content-security-policy": "sandbox"})


def read_masked_text(run_file: RunFile) -> bytes | None:
    """Text files, passed through ``mask`` once more (secrets this process learnt since); others: None."""
    if run_file.path.suffix.lower() not in TEXT_SUFFIXES:
        return None
    raw = run_file.path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return mask(text).encode("utf-8")


def listing(record: RunRecord, settings: Settings) -> dict[str, list[str]]:
    """Relative paths of the run's pictures, downloads and other files (trace, log, report)."""
    base = run_folder(record, settings)
    out: dict[str, list[str]] = {"screens": [], "downloads": [], "other": []}
    if not base.is_dir():
        return out
    for kind in ("screens", "downloads"):
        folder = base / kind
        if folder.is_dir():
            out[kind] = sorted(str(p.relative_to(base)) for p in folder.rglob("*") if _plain_file(p))
    out["other"] = sorted(p.name for p in base.iterdir() if _plain_file(p))
    return out


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
