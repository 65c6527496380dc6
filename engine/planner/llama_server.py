"""Start llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) over a GGUF on 127.0.0.1.

For the ``openai`` backend's tests and benchmark, and for a user who wants one model served to many
planner processes. The server is a child process: it is stopped on exit, and one that does not come
up in time, or exits, is a one-line ``PlannerError`` with the last line it printed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from engine.errors import PlannerError


@dataclass
class LlamaServer:
    base_url: str  # ends in /v1
    pid: int
    start_s: float
    model: str


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return lines[-1][:160] if lines else "no output"


@contextmanager
def llama_server(gguf: Path, *, port: int | None = None, threads: int = 1, n_ctx: int = 4096,
                 start_timeout_s: float = 120.0) -> Iterator[LlamaServer]:
    """A running server for ``gguf`` on 127.0.0.1; stopped when the block ends."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
           "--n_threads_batch", str(threads), "--model_alias", gguf.stem]
    base = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="rpa-llama-server-") as tmp:
        log = Path(tmp) / "server.log"
        t0 = time.perf_counter()
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    raise PlannerError(f"LlamaServer.start: the server exited with code {proc.returncode} "
                                       f"({_last_line(log)}). Check the model file and `pip install '.[llama]'`.")
                try:
                    if httpx.get(base + "/models", timeout=2.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - t0 > start_timeout_s:
                    raise PlannerError(f"LlamaServer.start: no answer on {base} after {start_timeout_s:g} s "
                                       f"({_last_line(log)}).")
                time.sleep(0.25)
            yield LlamaServer(base_url=base, pid=proc.pid, start_s=time.perf_counter() - t0, model=gguf.stem)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
