"""Instructions split into sub-goals without the model."""

from __future__ import annotations

from engine.planner.goals import decompose


def _g(instruction: str) -> list[dict]:
    return [g.model_dump(exclude_defaults=True, exclude={"text"}) for g in decompose(instruction)]


def test_quoted_values_and_fields() -> None:
    goals = _g('Enter the username "keli" and the password "3hI" into the text fields and press login.')
    assert [(g["verb"], g.get("value")) for g in goals] == [("fill", "keli"), ("fill", "3hI"), ("click", None)]
    assert "username" in goals[0]["target"] and "password" in goals[1]["target"]
    assert "login" in goals[2]["target"]


def test_value_as_field_and_secret_reference() -> None:
    goals = _g('Enter "alice" as username and {{ secrets.password }} as password, then click "Sign in"')
    assert goals[0] == {"verb": "fill", "value": "alice", "target": "username"}
    assert goals[1] == {"verb": "fill", "value": "{{ secrets.password }}", "target": "password"}
    assert goals[2]["verb"] == "click" and goals[2]["value"] == "Sign in"


def test_lists_sequences_and_nothing() -> None:
    assert [g.get("value") for g in _g("Select 3hIU, Qqi and click Submit.")] == ["3hIU", "Qqi", None]
    assert [g["verb"] for g in _g("Select nothing and click Submit.")] == ["click"]
    goals = _g("Click button ONE, then click button TWO.")
    assert [g["target"] for g in goals] == ["button ONE", "button TWO"]


def test_ordinals_repeat_and_implicit_submit() -> None:
    goals = _g('Check the 1st radio button and enter the number "16" into the 3rd textbox.')
    assert goals[0]["ordinal"] == 1 and goals[1]["ordinal"] == 3
    assert goals[-1] == {"verb": "submit", "target": "submit", "optional": True}
    assert _g('Enter the password "Q3h" into both text fields and press submit.')[0]["repeat"] is True


def test_context_and_messages() -> None:
    goals = _g('For the user @kenda, click on the "Like" button.')
    assert goals[0]["context"].endswith("@kenda") and goals[0]["value"] == "Like"
    goals = _g("Find the email by Helena and forward that email to Rochella.")
    assert [(g["verb"], g.get("value")) for g in goals] == [("click", None), ("fill", "Rochella"), ("submit", None)]
    assert goals[0]["context"] == "email Helena"


def test_search_and_unquoted_values() -> None:
    goals = _g("Search for drama movies directed by Holloway from year 2011.")
    assert goals[0]["verb"] == "fill" and {"drama", "Holloway", "2011"} <= set(goals[0]["free_values"])
    assert goals[1]["verb"] == "submit"
    goals = _g('Sign in with username "alice" and password {{ secrets.password }}, then search for "Globex"')
    assert [g["verb"] for g in goals] == ["fill", "fill", "submit", "fill", "submit"]


def test_unknown_phrasing_still_gives_a_goal() -> None:
    assert _g("Zorglub")[0]["verb"] == "click"


def test_log_in_as_fills_user_and_password_reference() -> None:
    goals = _g("log in as alice and open invoice 3")
    assert [(g["verb"], g.get("value")) for g in goals[:3]] == [
        ("fill", "alice"), ("fill", "{{ secrets.password }}"), ("submit", None)]
    assert goals[0]["optional"] and goals[1]["optional"] and goals[1]["target"] == "password"
    assert goals[3]["verb"] == "click" and "3" in goals[3]["target"]
    assert [g["verb"] for g in _g("Sign in")] == ["fill", "submit"]  # the password, as a secret reference


def test_plurals_meet_singulars() -> None:
    from engine.planner.goals import words

    assert words("invoices names boxes fields") == words("invoice name box field")
