"""Secret-free Playwright traces: every member of a saved ``trace.zip`` is rewritten without any
secret value of the run.

A trace holds a secret in many places: the ``fill`` call's ``value`` in ``trace.trace``, the DOM
snapshots of later steps (the input's value, HTML-escaped), the request bodies of the form that
sends it (``resources/*.dat``, form-encoded) and ``trace.network`` (JSON-escaped, sometimes twice), a
``Basic`` authorization header (base64). The archive is compressed, so a ``grep`` of RPA_HOME finds
none of them. Pausing the trace around the fill (``tracing.stop_chunk``/``start_chunk``) would keep
only the first place out: the request that carries the value, and every later snapshot of the
field, come after the fill. So the saved archive is scrubbed instead: each member is decompressed,
every encoding of every secret (plain, JSON-escaped once and twice, URL- and form-encoded,
HTML-escaped, base64 in each of its three alignments) becomes ``********``, and a resource whose
content changed is renamed: its name was the SHA-1 of content that held the secret, which would
let anyone who knows the rest of the body test guesses of the password offline.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from loguru import logger

from engine.logs import MASK

MIN_SECRET = 3  # shorter values would mask half the trace (engine.logs skips them too)
MIN_BASE64_CORE = 6  # a shorter base64 run matches by chance inside any image
_RESOURCE = re.compile(r"^resources/([0-9a-f]{40})(\.[A-Za-z0-9]+)?$")


def _json_inner(text: str, ascii_only: bool = True) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def _base64_cores(raw: bytes) -> set[bytes]:
    """The part of base64(x + raw + y) that depends on ``raw`` alone, for each alignment of ``raw``."""
    cores: set[bytes] = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw + b"\0\0")
        first = -(-8 * k // 6)  # first char with no bit of the prefix
        last = 8 * (k + len(raw)) // 6  # chars before this one hold no bit of the suffix
        core = enc[first:last]
        if len(core) >= MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(bytes.maketrans(b"+/", b"-_")))
    return cores


def secret_forms(value: str) -> set[bytes]:
    """Every byte string under which ``value`` can appear in a trace member."""
    if len(value) < MIN_SECRET:
        return set()
    base = {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value),
            html.escape(value, quote=False)}
    texts = set(base)
    for text in base:
        once = _json_inner(text)
        texts.update({once, _json_inner(text, ascii_only=False), _json_inner(once)})
    forms = {t.encode("utf-8") for t in texts}
    for raw in (value.encode("utf-8"), value.encode("utf-16-le")):
        forms |= _base64_cores(raw)
    return {f for f in forms if f}


def _scrub(data: bytes, forms: list[bytes]) -> tuple[bytes, int]:
    count = 0
    for form in forms:
        n = data.count(form)
        if n:
            data = data.replace(form, MASK.encode())
            count += n
    return data, count


@dataclass(frozen=True)
class ScrubResult:
    members: int  # members read (all of them, decompressed)
    replaced: int  # occurrences of a secret replaced
    renamed: int  # resources renamed because their content (and so their SHA-1 name) changed


def scrub_trace(path: str | os.PathLike[str], secrets: Iterable[str]) -> ScrubResult:
    """Rewrite the trace at ``path`` with no secret value in any member; the new file is 0600."""
    path = Path(path)
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    out: list[tuple[zipfile.ZipInfo, bytes]] = []
    renames: dict[bytes, bytes] = {}
    replaced = 0
    for info, data in members:
        data, n = _scrub(data, forms)
        replaced += n
        m = _RESOURCE.match(info.filename)
        if n and m:  # the name is the SHA-1 of what the content was
            new = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            renames[m.group(1).encode()] = new.encode()
            info = _info(f"resources/{new}{m.group(2) or ''}", info)
        out.append((info, data))
    if renames:  # trace.network and trace.trace name resources by their SHA-1
        out = [(info, _rename_refs(data, renames)) if not _RESOURCE.match(info.filename) else (info, data)
               for info, data in out]
    if replaced:
        _write_zip(path, out)
    else:
        os.chmod(path, 0o600)
    return ScrubResult(members=len(members), replaced=replaced, renamed=len(renames))


def find_secrets(path: str | os.PathLike[str], secrets: Iterable[str]) -> list[str]:
    """``member: form`` for each member of a zip that still holds a form of a secret (for checks)."""
    forms = sorted({f for s in secrets for f in secret_forms(s)}, key=len, reverse=True)
    found = []
    with zipfile.ZipFile(path) as src:
        for info in src.infolist():
            data = src.read(info)
            found += [f"{info.filename}: {form[:4]!r}..." for form in forms if form in data]
    return found


def _rename_refs(data: bytes, renames: dict[bytes, bytes]) -> bytes:
    for old, new in renames.items():
        data = data.replace(old, new)
    return data


def _info(name: str, like: zipfile.ZipInfo) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=like.date_time)
    info.compress_type = like.compress_type
    info.external_attr = like.external_attr
    return info


def _write_zip(path: Path, members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".trace.", suffix=".zip", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as dst:
            for info, data in members:
                dst.writestr(info, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def secret_values(names: Iterable[str], resolve: Callable[[str], str]) -> list[str]:
    """The values of a plan's secrets (a name that does not resolve was never typed anywhere)."""
    values = []
    for name in names:
        try:
            values.append(resolve(name))
        except Exception as err:  # noqa: BLE001 - a missing secret cannot be in the trace
            logger.debug("traces: secret {} not resolved for scrubbing: {}", name, type(err).__name__)
    return values


async def save_trace(context: Any, path: Path, secrets: Iterable[str]) -> str | None:
    """Stop the context's tracing into ``path`` and scrub it; the path, or None when no trace could be
    kept (a trace that cannot be scrubbed is deleted, never kept with a secret)."""
    await context.tracing.stop(path=str(path))
    try:
        result = await asyncio.to_thread(scrub_trace, path, list(secrets))
    except Exception as err:  # noqa: BLE001 - unreadable zip: better no trace than a leaking one
        logger.warning("traces: {} could not be scrubbed ({}); deleted", path, err)
        path.unlink(missing_ok=True)
        return None
    logger.debug("traces: {} scrubbed ({} secret occurrences, {} members)", path, result.replaced, result.members)
    return str(path)
