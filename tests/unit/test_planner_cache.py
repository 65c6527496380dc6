"""Plan cache: URL normalizer, keys on names only, file storage, hit = zero model calls."""

from __future__ import annotations

import pytest

from engine.config import get_settings
from engine.plan import Plan
from engine.planner import FileCache, MemoryCache, get_planner
from engine.planner.cache import CacheKey, normalize_instruction, normalize_url


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTP://Example.COM:80/a?b=2&a=1#frag", "http://example.com/a?a=1&b=2#frag"),
    ("https://example.com:443", "https://example.com/"),
    ("http://127.0.0.1:8765/login?next=/x", "http://127.0.0.1:8765/login?next=%2Fx"),
    ("http://h/p?z=&a=1", "http://h/p?a=1&z="),
    ("file:///tmp/task.html", "file:///tmp/task.html"),
])
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_instruction_folds_case_and_space() -> None:
    assert normalize_instruction("  Click   the\tBUTTON \n") == "click the button"


def test_key_uses_param_names_not_values() -> None:
    a = CacheKey.make("Search {{ params.q }}", "http://h/", params=["q", "page"])
    b = CacheKey.make("search  {{ params.q }}", "http://h", params=["page", "q"])
    assert a.digest() == b.digest()
    assert "Globex" not in a.model_dump_json()
    assert CacheKey.make("x", "http://h/", "sig1").digest() != CacheKey.make("x", "http://h/", "sig2").digest()


def _plan() -> Plan:
    return Plan.model_validate({"name": "p", "allowed_domains": ["h"], "steps": [
        {"id": "s1", "action": "goto", "value": "http://h/"},
        {"id": "s2", "action": "click", "target": {"role": "button", "name": "Go"}}]})


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_cache_put_get_invalidate(kind: str, tmp_path) -> None:
    cache = FileCache(tmp_path / "pc") if kind == "file" else MemoryCache()
    key = CacheKey.make("Click Go", "http://h/", "sig")
    assert cache.get(key) is None
    cache.put(key, _plan())
    assert cache.get(key) == _plan()
    # Before the page is seen, a lookup without its signature finds the single entry for the site.
    assert cache.get(CacheKey.make("click go", "http://h")) == _plan()
    assert cache.invalidate("CLICK GO", "http://h/") == 1
    assert cache.get(key) is None


def test_broken_entry_is_a_miss(tmp_path) -> None:
    cache = FileCache(tmp_path)
    key = CacheKey.make("Click Go", "http://h/")
    cache.put(key, _plan())
    (tmp_path / f"{key.digest()}.yaml").write_text("steps: [", encoding="utf-8")
    assert cache.get(key) is None


def test_cache_hit_makes_zero_model_calls() -> None:
    settings = get_settings()
    planner = get_planner(settings, cache=FileCache(settings.home / "plancache"))
    planner.remember("Click Go", "http://h/", _plan())
    assert planner.cached("click   go", "http://h", []) == _plan()
    assert planner.llm_calls == 0
    assert planner.backend.calls == 0 and planner.backend._backend is None  # the model was never loaded
