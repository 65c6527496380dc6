"""Practice tasks for ``rpa train --explore``: MiniWoB++ pages and flows on the bundled sandbox site.

A practice episode is an instruction, a start page and a check that says whether the page ended where
the instruction wanted, so exploration can keep the episodes that worked without a person. MiniWoB++
tasks score themselves (``engine.envs.miniwob``); the sandbox flows below check the final URL. Each
seed picks the wording, the invoice or supplier, and the normal or drifted skin of the site, so the
model learns the flow rather than one page.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engine.errors import ConfigError

SANDBOX_PREFIX = "sandbox-"
# The sandbox's published demo credential (bots/sandbox/README.md); never a user's secret.
SANDBOX_PASSWORD = "wonderland"
SUPPLIERS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay")
LOGINS = (
    "Log in as alice",
    'Sign in as "alice"',
    'Enter "alice" as username and {{ secrets.password }} as password, then click "Sign in"',
)


@dataclass
class Episode:
    instruction: str
    path: str  # where the browser starts, on the sandbox
    drift: bool  # which skin of the site
    check: Callable[[Any], Awaitable[bool]]  # the page at the end -> did it work


def _path_is(want: str) -> Callable[[Any], Awaitable[bool]]:
    async def check(page: Any) -> bool:
        return urlsplit(page.url).path == want

    return check


def _searched(word: str) -> Callable[[Any], Awaitable[bool]]:
    async def check(page: Any) -> bool:
        url = urlsplit(page.url)
        query = " ".join(parse_qs(url.query).get("q", []))
        return url.path == "/invoices" and word.lower() in query.lower()

    return check


async def _signed_in(page: Any) -> bool:
    return urlsplit(page.url).path not in ("/login", "")  # signing in leaves the login page (401 stays)


def _login(rng: random.Random) -> Episode:
    return Episode(rng.choice(LOGINS), "/login", rng.random() < 0.5, _signed_in)


def _invoice(rng: random.Random) -> Episode:
    number = f"INV-{1001 + rng.randrange(10)}"  # on the first page of the list
    return Episode(f'{rng.choice(LOGINS)} and open invoice "{number}"', "/login", rng.random() < 0.5,
                   _path_is(f"/invoices/{number}"))


def _search(rng: random.Random) -> Episode:
    word = rng.choice(SUPPLIERS)
    return Episode(f'{rng.choice(LOGINS)} and search for "{word}"', "/login", rng.random() < 0.5, _searched(word))


SANDBOX_TASKS: dict[str, Callable[[random.Random], Episode]] = {
    "sandbox-login": _login,
    "sandbox-invoice": _invoice,
    "sandbox-search": _search,
}


def is_sandbox(task: str) -> bool:
    return task.startswith(SANDBOX_PREFIX)


def sandbox_episode(task: str, seed: int) -> Episode:
    make = SANDBOX_TASKS.get(task)
    if make is None:
        raise ConfigError(f"Training.explore: unknown sandbox task '{task}'. Known: {', '.join(SANDBOX_TASKS)}.")
    return make(random.Random(f"{task}-{seed}"))


def parse_practice(spec: str) -> list[str]:
    """Comma-separated names or a file: sandbox flows (``sandbox-login``, ...) and MiniWoB++ tasks."""
    from engine.envs.miniwob import parse_tasks, task_names

    names = task_names(spec, "Training.explore")
    sandbox = [t for t in names if is_sandbox(t)]
    for t in sandbox:
        sandbox_episode(t, 0)  # unknown names fail here, before any model loads
    rest = [t for t in names if not is_sandbox(t)]
    return sandbox + (parse_tasks(",".join(rest)) if rest else [])
