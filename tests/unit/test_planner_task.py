"""What an instruction asks for, read without the model: values, secrets, parts."""

from __future__ import annotations

from engine.planner.task import lead_verbs, read_task


def _parts(instruction: str) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in read_task(instruction).parts]


def test_a_login_without_a_named_secret_uses_the_conventional_one() -> None:
    assert _parts("Log in as alice") == [("value", "alice"), ("secret", "secret password"), ("action", "log in")]


def test_the_named_secret_is_the_one_used() -> None:
    task = read_task("Log in as admin with the password in secret DJANGO_PW and create a group named Auditors")
    assert task.secrets == ["DJANGO_PW"]
    assert ("value", "Auditors") in _parts(task.instruction)
    assert "django" not in task.words and "pw" not in task.words  # a secret's name names no control


def test_rename_x_to_y_replaces_x() -> None:
    values = read_task("rename the group Auditors to Inspectors").values
    assert [(v.text, v.replaces) for v in values] == [("Auditors", None), ("Inspectors", "Auditors")]


def test_field_words_come_before_the_value() -> None:
    values = {v.text: v.field for v in read_task(
        "change the email address of user frank to frank@example.com").values}
    assert values["frank"] == ("user",) and values["frank@example.com"] == ("email", "addres")


def test_quoted_values_attributes_and_unknown_verbs_are_parts() -> None:
    parts = _parts("add a user named carol with password 'Tr1cky-Pass-77' and make her staff")
    assert ("value", "carol") in parts and ("value", "Tr1cky-Pass-77") in parts and ("attribute", "staff") in parts
    assert ("action", "archive") in _parts("archive the group Auditors")
    assert ("attribute", "colour blue") in _parts("create a group named Pilots with the colour blue")


def test_get_rid_of_is_a_delete_and_verbs_lead_clauses() -> None:
    assert read_task("get rid of the group Legacy").intents == ("delete",)
    assert lead_verbs("Open invoice INV-1002 and approve it") == ["open", "approve"]
    assert read_task("What is the total of this invoice?").parts[0].kind == "read"
