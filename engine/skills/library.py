"""Where skills live: every plan file of the library folders is one skill.

Folders, in order: the project's ``recordings/`` (benchmark flows ``overhead_*`` left out, as ``rpa demo``
does), ``RPA_HOME/skills/``, each folder of ``RPA_SKILLS`` (``os.pathsep``-separated), then ``--library``
folders. A later folder's skill replaces an earlier one of the same name (the user's own wins over the
project's). A repaired version ``x.vN.yaml`` that the loop wrote beside ``x.yaml`` replaces it (the newest
N). A file that does not load is reported in ``Library.errors`` and never routed to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from engine.config import Settings
from engine.errors import ConfigError, RpaError
from engine.plan import load_plan
from engine.skills.models import Skill

PROJECT_RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"
BENCHMARK_FLOWS = ("overhead_",)  # recordings/README.md: benchmark flows, not the user's bots
_VERSION_RE = re.compile(r"^(?P<stem>.+)\.v(?P<n>\d+)$")


@dataclass
class Library:
    skills: list[Skill] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    def get(self, name: str) -> Skill:
        for s in self.skills:
            if s.name == name:
                return s
        known = ", ".join(self.names()) or "none"
        raise ConfigError(f"Skills.get: no skill '{name}' in the library (skills: {known}). "
                          "See `rpa skills list`.")

    def signature(self) -> tuple:
        """Changes whenever a skill file changes (the router caches per library)."""
        return tuple((s.name, str(s.path), s.path.stat().st_mtime_ns if s.path.exists() else 0) for s in self.skills)


def library_folders(settings: Settings, extra: list[Path] | None = None, *, defaults: bool = True) -> list[tuple[str, Path]]:
    """(source, folder) pairs in the order their skills are read."""
    out: list[tuple[str, Path]] = []
    if defaults:
        out.append(("project", PROJECT_RECORDINGS))
        out.append(("home", settings.skills_dir))
        for part in (settings.skills_path or "").split(os.pathsep):
            if part.strip():
                out.append(("env", Path(part.strip()).expanduser()))
    for folder in extra or []:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"Skills.library: {folder} is not a folder. Give a folder of plan files (--library DIR).")
        out.append(("option", folder))
    return out


def _plan_files(folder: Path) -> list[Path]:
    """The newest version of each plan file of ``folder`` (benchmark flows of the project left out)."""
    newest: dict[str, tuple[int, Path]] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        m = _VERSION_RE.match(path.stem)
        stem, n = (m.group("stem"), int(m.group("n"))) if m else (path.stem, 1)
        if folder.resolve() == PROJECT_RECORDINGS and stem.startswith(BENCHMARK_FLOWS):
            continue
        if stem not in newest or n > newest[stem][0]:
            newest[stem] = (n, path)
    return [p for _, p in sorted(newest.values(), key=lambda t: t[1].name)]


def load_library(settings: Settings, extra: list[Path] | None = None, *, defaults: bool = True) -> Library:
    """Every skill of the library folders (``defaults=False``: only ``extra``, as a benchmark wants)."""
    lib = Library()
    by_name: dict[str, Skill] = {}
    for source, folder in library_folders(settings, extra, defaults=defaults):
        if not folder.is_dir():
            continue
        lib.folders.append(folder)
        for path in _plan_files(folder):
            try:
                plan = load_plan(path)
            except RpaError as err:
                lib.errors.append(err.message)
                logger.warning("skills: {} is not a usable skill: {}", path, err.message)
                continue
            if plan.name in by_name:
                logger.debug("skills: {} replaces {}", path, by_name[plan.name].path)
            by_name[plan.name] = Skill(name=plan.name, path=path, plan=plan, source=source)
    lib.skills = sorted(by_name.values(), key=lambda s: s.name)
    return lib
