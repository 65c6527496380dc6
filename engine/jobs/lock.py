"""One daemon per job store: a lock the operating system (or the database) drops when its holder dies.

SQLite: ``fcntl.flock`` on ``<database file>.daemon.lock`` (the file also says which pid holds it).
PostgreSQL: a session advisory lock on a connection held open for the daemon's life. Other
databases: a file lock under ``RPA_HOME`` keyed by the URL (it only guards this machine).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from engine.errors import ConfigError
from engine.logs import mask


class StoreLock:
    """``acquire()`` or a ``ConfigError`` naming the holder; ``release()`` is safe to call twice."""

    def __init__(self, url: str, home: Path, engine: Engine | None = None) -> None:
        self.url, self.home, self.engine = url, home, engine
        self._fd: int | None = None
        self._conn: Any = None
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        if self.backend == "sqlite" and parsed.database and parsed.database != ":memory:":
            self.path: Path | None = Path(parsed.database).expanduser().with_name(Path(parsed.database).name + ".daemon.lock")
        elif self.backend == "postgresql":
            self.path = None
        else:
            digest = hashlib.sha1(url.encode()).hexdigest()[:12]
            self.path = home / f"daemon-{digest}.lock"

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None

    def acquire(self) -> None:
        if self.path is None:
            self._acquire_advisory()
        else:
            self._acquire_file(self.path)

    def _refuse(self, holder: str) -> ConfigError:
        return ConfigError(
            f"Daemon.start: another daemon ({holder}) is already running on the job store {mask(self.url)}. "
            "Stop it first (kill -TERM PID or systemctl stop), or give this one another --db."
        )

    def _acquire_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "pid unknown"
            os.close(fd)
            raise self._refuse(f"pid {holder}" if holder.isdigit() else holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        logger.debug("daemon: lock {} held by pid {}", path, os.getpid())

    def _acquire_advisory(self) -> None:
        if self.engine is None:
            raise ConfigError("Daemon.start: the store lock needs a database engine. This is a bug; please report it.")
        key = zlib.crc32(f"rpa-daemon:{self.url}".encode()) & 0x7FFFFFFF
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise self._refuse("advisory lock taken")
        self._conn = conn

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session: PostgreSQL drops its advisory locks
            finally:
                self._conn = None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

