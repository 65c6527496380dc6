"""Plan cache: the same instruction on the same page replays a validated plan with zero LLM calls.

The key is the sha256 of canonical JSON of exactly what a plan depends on: the normalized
instruction, the normalized URL, the first page's signature (roles and names of its controls) and
the sorted parameter NAMES (never values). Entries live under ``RPA_HOME/plancache/`` as a YAML
plan plus JSON meta, versioned so a format change simply misses. A plan that fails is invalidated.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loguru import logger
from pydantic import BaseModel

from engine.errors import RpaError
from engine.plan import Plan, dump_plan, parse_plan

CACHE_VERSION = 1


def normalize_instruction(text: str) -> str:
    return " ".join(text.split()).lower()


def normalize_url(url: str) -> str:
    """scheme + host + port + path, query sorted, fragment kept; default ports dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((scheme, host, path, query, parts.fragment))


class CacheKey(BaseModel):
    instruction: str
    url: str
    signature: str = ""
    params: list[str] = []

    @classmethod
    def make(cls, instruction: str, url: str, signature: str = "", params: list[str] | None = None) -> CacheKey:
        return cls(instruction=normalize_instruction(instruction), url=normalize_url(url), signature=signature,
                   params=sorted(params or []))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def site_digest(self) -> str:
        """The key without the page signature: finds entries before the page has been seen."""
        return self.model_copy(update={"signature": ""}).digest()


class PlanCache(ABC):
    """Storage behind the cache: file (default), memory (tests, benchmarks) or disabled."""

    @abstractmethod
    def get(self, key: CacheKey) -> Plan | None: ...

    @abstractmethod
    def put(self, key: CacheKey, plan: Plan) -> None: ...

    @abstractmethod
    def invalidate(self, instruction: str, url: str) -> int: ...


class DisabledCache(PlanCache):
    def get(self, key: CacheKey) -> Plan | None:
        return None

    def put(self, key: CacheKey, plan: Plan) -> None:
        return None

    def invalidate(self, instruction: str, url: str) -> int:
        return 0


class MemoryCache(PlanCache):
    def __init__(self) -> None:
        self.entries: dict[str, tuple[CacheKey, Plan]] = {}

    def get(self, key: CacheKey) -> Plan | None:
        hit = self.entries.get(key.digest())
        if hit is None and not key.signature:
            hit = next((v for v in self.entries.values() if v[0].site_digest() == key.site_digest()), None)
        return hit[1] if hit else None

    def put(self, key: CacheKey, plan: Plan) -> None:
        self.entries[key.digest()] = (key, plan)

    def invalidate(self, instruction: str, url: str) -> int:
        probe = CacheKey.make(instruction, url)
        gone = [d for d, (k, _) in self.entries.items()
                if (k.instruction, k.url) == (probe.instruction, probe.url)]
        for d in gone:
            del self.entries[d]
        return len(gone)


class FileCache(PlanCache):
    """``<dir>/<digest>.yaml`` (the plan) and ``<digest>.json`` (key, version, dates)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _metas(self) -> list[tuple[Path, dict]]:
        out = []
        for meta in sorted(self.dir.glob("*.json")) if self.dir.exists() else []:
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if data.get("version") == CACHE_VERSION:
                out.append((meta, data))
        return out

    def get(self, key: CacheKey) -> Plan | None:
        path = self.dir / f"{key.digest()}.yaml"
        if not path.exists() and not key.signature:
            site = key.site_digest()
            match = [m for m, d in self._metas() if d.get("site") == site]
            path = match[-1].with_suffix(".yaml") if len(match) == 1 else path
        if not path.exists():
            return None
        try:
            return parse_plan(path.read_text(encoding="utf-8"), str(path))
        except (OSError, RpaError) as err:  # a broken entry is a miss, and goes away
            logger.warning("plan cache: dropping unreadable entry {}: {}", path.name, err)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: CacheKey, plan: Plan) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        digest = key.digest()
        meta = {"version": CACHE_VERSION, "key": key.model_dump(), "site": key.site_digest(),
                "created_at": datetime.now(timezone.utc).isoformat()}
        _atomic_write(self.dir / f"{digest}.yaml", dump_plan(plan))
        _atomic_write(self.dir / f"{digest}.json", json.dumps(meta, indent=1))

    def invalidate(self, instruction: str, url: str) -> int:
        probe = CacheKey.make(instruction, url)
        n = 0
        for meta, data in self._metas():
            k = data.get("key") or {}
            if (k.get("instruction"), k.get("url")) == (probe.instruction, probe.url):
                meta.with_suffix(".yaml").unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                n += 1
        return n


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
