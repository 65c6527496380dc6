"""Goal-level instructions on a real web app nobody here wrote: Django's own admin (django from PyPI),
served by `manage.py runserver` on 127.0.0.1, checked with SQL on its own database."""

from __future__ import annotations

import pytest

from engine.errors import FailureKind
from engine.history import History, HistoryStatus
from engine.loop import EntryStatus, JobSpec, run_batch

pytest.importorskip("django", reason="Django (a third-party app to test against) comes with the bench extra")
pytestmark = [pytest.mark.model, pytest.mark.browser, pytest.mark.slow]

PASSWORD = "k3y-Adm1n-2026"
SECRETS = {"DJANGO_PW": PASSWORD, "password": "not-the-admin-password"}


@pytest.fixture(scope="module")
def admin():
    from engine.bench.apps import DjangoAdmin

    app = DjangoAdmin(PASSWORD)
    app.start()
    yield app
    app.close()


def _run(app, instruction: str):
    batch = run_batch([JobSpec(instruction=instruction, url=app.url + "/admin/", skills=False)], secrets=SECRETS)
    return batch.entries[0]


def test_create_a_group_then_replay_it_without_the_model(admin) -> None:
    admin.load({})
    instruction = "Log in as admin with the password in secret DJANGO_PW and create a group named Auditors"
    entry = _run(admin, instruction)
    assert entry.status is EntryStatus.succeeded, entry.error
    assert admin.query("select count(*) from auth_group where name = 'Auditors'") == 1
    assert entry.llm_calls >= 1 and entry.planned and entry.plan.secrets == ["DJANGO_PW"]
    admin.load({})  # a fresh database: the stored plan does the work again, with no model call
    again = _run(admin, instruction)
    assert again.ok and again.from_cache and again.llm_calls == 0
    assert admin.query("select count(*) from auth_group where name = 'Auditors'") == 1


def test_a_part_the_app_does_not_offer_fails_and_changes_nothing(admin) -> None:
    admin.load({"groups": ["Auditors"]})
    entry = _run(admin, "Sign in as admin (secret DJANGO_PW) and archive the group Auditors")
    assert not entry.ok and entry.error_kind is FailureKind.goal_unmet and "'archive'" in entry.error
    assert admin.query("select count(*) from auth_group where name = 'Auditors'") == 1
    assert History().get_run(entry.run_ids[-1]).status == HistoryStatus.failed_business.value
