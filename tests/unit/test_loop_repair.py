"""Deterministic repair from an observation, validation of repairs, versioned saving with a diff."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.loop.repair import deterministic_repair, replace_target, save_repaired, validate_repair
from engine.plan import Plan, Target, load_plan, parse_plan, save_plan

PLAN = parse_plan("""
name: login
allowed_domains: [127.0.0.1]
steps:
  - {id: open, action: goto, value: "http://127.0.0.1:1/login"}
  - {id: user, action: fill, target: {label: Username}, value: alice}
  - {id: signin, action: click, target: {role: button, name: Sign in}}
  - {id: search, action: fill, target: {css: "#search-box"}, value: acme}
""")


@dataclass
class El:
    ref: str
    role: str
    name: str = ""
    text: str = ""


@dataclass
class Obs:
    """The shape of bots.observe.Observation that repair reads: elements and a selector map."""

    elements: list[El]
    selector_map: dict[str, Target] = field(default_factory=dict)


def _obs(*els: El) -> Obs:
    return Obs(list(els), {e.ref: Target.model_validate({"role": e.role, "name": e.name}) for e in els})


DRIFTED = _obs(El("1", "link", "Invoices"), El("2", "textbox", "User name"), El("3", "button", "Help"),
               El("4", "button", "Sign in now"), El("5", "searchbox", "Search box"))


def test_reworded_button_is_found() -> None:
    fixed = deterministic_repair(PLAN, "signin", DRIFTED)
    assert fixed is not None
    target = fixed.step("signin").target
    assert target.locators[0].name == "Sign in now"
    assert target.locators[1].name == "Sign in"  # the old locator stays as a fallback


def test_reworded_label_and_renamed_css_are_found() -> None:
    assert deterministic_repair(PLAN, "user", DRIFTED).step("user").target.locators[0].name == "User name"
    assert deterministic_repair(PLAN, "search", DRIFTED).step("search").target.locators[0].role == "searchbox"


def test_nothing_similar_means_no_repair() -> None:
    assert deterministic_repair(PLAN, "signin", _obs(El("1", "link", "Privacy policy"))) is None


def test_validation_refuses_unsafe_repairs() -> None:
    good = replace_target(PLAN, "signin", Target.model_validate({"text": "Sign in now"}))
    assert validate_repair(PLAN, good, "signin") is None
    wider = good.model_copy(update={"allowed_domains": ["127.0.0.1", "evil.example"]})
    assert validate_repair(PLAN, wider, "signin") == "it widens allowed_domains"
    other = replace_target(PLAN, "user", Target.model_validate({"label": "Login"}))
    assert validate_repair(PLAN, other, "signin") == "it changes step 'user', which did not fail"
    assert validate_repair(PLAN, PLAN, "signin") == "it changes nothing"


def test_saved_beside_the_user_file_never_over_it(tmp_path: Path) -> None:
    src = save_plan(PLAN, tmp_path / "login.yaml")
    before = src.read_text()
    fixed = deterministic_repair(PLAN, "signin", DRIFTED)
    path, diff = save_repaired(PLAN, fixed, str(src), tmp_path)
    assert path.name == "login.v2.yaml" and src.read_text() == before
    assert load_plan(path).step("signin").target.locators[0].name == "Sign in now"
    assert "--- login.yaml" in diff and "+++ login.v2.yaml" in diff and "+  - role: button" in diff
    path3, _ = save_repaired(PLAN, fixed, str(src), tmp_path)
    assert path3.name == "login.v3.yaml"


def test_a_repair_never_targets_another_record() -> None:
    plan = Plan.model_validate({"name": "p", "steps": [
        {"id": "open", "action": "click", "target": {"role": "link", "name": "INV-9999", "exact": True}}]})
    other = replace_target(plan, "open", Target.model_validate({"role": "link", "name": "INV-1009"}))
    assert validate_repair(plan, other, "open") == "it targets something else (no 9999 in the new target)"
    same = replace_target(plan, "open", Target.model_validate({"text": "Invoice INV-9999"}))
    assert validate_repair(plan, same, "open") is None


def test_a_repair_of_a_field_never_sets_another_field() -> None:
    plan = Plan.model_validate({"name": "p", "steps": [
        {"id": "staff", "action": "check", "target": [{"role": "checkbox", "name": "Staff status"},
                                                       {"css": "#id_is_staff"}]}]})
    other = replace_target(plan, "staff", Target.model_validate([{"role": "radio", "name": "Disabled"},
                                                                  {"css": "#id_usable_password_1"}]))
    assert validate_repair(plan, other, "staff").startswith("it sets another field")
    reworded = replace_target(plan, "staff", Target.model_validate({"role": "checkbox", "name": "Staff status?"}))
    assert validate_repair(plan, reworded, "staff") is None
    user = replace_target(PLAN, "user", Target.model_validate({"role": "textbox", "name": "User name"}))
    assert validate_repair(PLAN, user, "user") is None
    # A redesign that rewords a label keeps the field's id or test id: still the same field.
    search = replace_target(PLAN, "search", Target.model_validate([{"label": "Look up"}, {"css": "#x-search-2"}]))
    assert validate_repair(PLAN, search, "search") is None


def test_a_first_name_is_never_healed_into_the_username() -> None:
    # A replay that acted before the change form loaded healed "First name:" into "Username:" (they share
    # only "name:") and reported success with the names unset.
    plan = Plan.model_validate({"name": "p", "steps": [
        {"id": "first", "action": "fill", "value": "Oskar",
         "target": [{"role": "textbox", "name": "First name:"}, {"label": "First name:"}, {"css": "#id_first_name"}]}]})
    other = replace_target(plan, "first", Target.model_validate([{"role": "textbox", "name": "Username:"},
                                                                  {"label": "Username:"}, {"css": "#id_username"}]))
    assert validate_repair(plan, other, "first").startswith("it sets another field")
