"""Is a daemon running on this store, since when, as which process: read without touching its lock.

Trying the lock ourselves would, for an instant, make a starting daemon refuse; so we look: the
lock file names the holder's pid (``engine.jobs.lock.StoreLock`` writes it on acquiring, empties it
on release), its modification time is the moment it was taken, and Linux's ``/proc/locks`` says
whether a process still holds a flock on that file (a SIGKILLed daemon leaves its pid behind).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from engine.config import Settings
from engine.jobs.lock import StoreLock
from engine.logs import mask


class DaemonState(BaseModel):
    running: bool | None  # None: cannot tell on this kind of store
    pid: int | None = None
    since: datetime | None = None
    store: str
    lock: str | None = None
    note: str | None = None


def _flock_holders(path: Path) -> set[int] | None:
    """Pids holding a flock on ``path`` per ``/proc/locks``; None where that file does not exist."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except FileNotFoundError:
        return None
    except OSError:
        return None
    holders = set()
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters carry "->")
        if len(parts) >= 6 and parts[1] == "FLOCK":
            dev_inode = parts[5].rsplit(":", 1)
            if len(dev_inode) == 2 and dev_inode[1].isdigit() and int(dev_inode[1]) == inode:
                holders.add(int(parts[4]))
    return holders


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_state(url: str, settings: Settings) -> DaemonState:
    lock = StoreLock(url, settings.home)
    store = mask(url)
    if lock.path is None:
        return DaemonState(
            running=None,
            store=store,
            note="PostgreSQL store: the daemon holds an advisory lock, which this page does not read.",
        )
    path = lock.path
    if not path.exists():
        return DaemonState(running=False, store=store, lock=str(path))
    text = path.read_text(errors="replace").strip()
    pid = int(text) if text.isdigit() else None
    if pid is None:  # released cleanly: the file is emptied
        return DaemonState(running=False, store=store, lock=str(path))
    holders = _flock_holders(path)
    running = bool(holders) if holders is not None else _alive(pid)
    since = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc) if running else None
    note = (
        None
        if running
        else f"pid {pid} stopped without releasing the lock (killed?); the next start recovers."
    )
    return DaemonState(
        running=running, pid=pid if running else None, since=since, store=store, lock=str(path), note=note
    )
