"""What a planning run counts as done, and what the page must show before it stops (no page needed:
observations are built from the script's raw items)."""

from __future__ import annotations

from bots.observe import build_observation
from engine.planner.ledger import Ledger
from engine.planner.task import read_task


def _obs(*items: dict, url: str = "http://h/form", title: str = "Add group") -> object:
    raw = [{"kind": "control", "tag": "input", "css": f"#x{i}", "box": [0, 20 * i, 100, 18], **it}
           for i, it in enumerate(items)]
    return build_observation({"url": url, "title": title, "items": raw})


def test_a_value_typed_into_a_search_box_does_not_create_it() -> None:
    ledger = Ledger(read_task("create a group named Auditors"))
    obs = _obs({"role": "searchbox", "name": "Filter navigation items", "type": "search"},
               {"role": "textbox", "name": "Name:", "label": "Name:"})
    ledger.record("fill", obs.elements[0], "Auditors", obs, set())
    assert [p.text for p in ledger.missing()] == ["Auditors"]
    ledger.record("fill", obs.elements[1], "Auditors", obs, set())
    assert not ledger.missing() and not ledger.complete()  # typed, but the form is not sent yet


def test_a_change_is_confirmed_only_by_the_answer_to_its_form() -> None:
    ledger = Ledger(read_task("create a group named Auditors"))
    form = _obs({"role": "textbox", "name": "Name:", "label": "Name:"},
                {"role": "button", "name": "Save", "tag": "button"})
    ledger.record("fill", form.elements[0], "Auditors", form, set())
    ledger.record("click", form.elements[1], None, form, set())
    question = _obs({"kind": "text", "role": "text", "name": "Are you sure you want to add the group? It will be added."})
    assert ledger.confirm(form, question) is None
    error = _obs({"kind": "text", "role": "alert", "name": "Please correct the error below."})
    assert ledger.confirm(form, error) is None
    done = _obs({"kind": "text", "role": "text", "name": "The group “Auditors” was added successfully."})
    ledger.accept()
    assert ledger.complete() and ledger.confirm(form, done).kind == "message"


def test_a_form_sent_back_undoes_what_was_typed() -> None:
    ledger = Ledger(read_task("Log in as alice"))
    form = _obs({"role": "textbox", "name": "Username", "label": "Username"},
                {"role": "textbox", "name": "Password", "label": "Password", "type": "password"},
                {"role": "button", "name": "Sign in", "tag": "button"}, url="http://h/login")
    ledger.record("fill", form.elements[0], "alice", form, set())
    ledger.record("fill", form.elements[1], "{{ secrets.password }}", form, set())
    ledger.record("click", form.elements[2], None, form, set())
    assert not ledger.missing()
    back = _obs({"kind": "text", "role": "alert", "name": "Invalid username or password"},
                {"role": "textbox", "name": "Username", "label": "Username"}, url="http://h/login")
    assert ledger.refused(form, back) == "Invalid username or password"
    assert [p.kind for p in ledger.missing()] == ["value", "secret", "action"]


def test_one_click_names_one_value() -> None:
    ledger = Ledger(read_task("set the first name of the user grace to Grace"))
    obs = _obs({"role": "link", "name": "grace", "tag": "a"})
    ledger.record("click", obs.elements[0], None, obs, set())
    assert [p.text for p in ledger.missing()] == ["Grace"]


def test_a_record_made_by_one_form_and_finished_by_the_next_is_confirmed_by_both_answers() -> None:
    def run(first_answer: str) -> object:
        ledger = Ledger(read_task("add a user named carol and make her staff"))
        add = _obs({"role": "textbox", "name": "Username:", "label": "Username:"},
                   {"role": "button", "name": "Save", "tag": "button"}, url="http://h/user/add/")
        ledger.record("fill", add.elements[0], "carol", add, set())
        ledger.record("click", add.elements[1], None, add, set())
        change = _obs({"kind": "text", "role": "text", "name": first_answer},
                      {"role": "checkbox", "name": "Staff status", "label": "Staff status", "type": "checkbox"},
                      {"role": "button", "name": "Save", "tag": "button"}, url="http://h/user/7/change/")
        ledger.hear(add, change)
        ledger.accept()
        ledger.record("check", change.elements[1], None, change, set())
        ledger.record("click", change.elements[2], None, change, set())
        ledger.accept()
        saved = _obs({"kind": "text", "role": "text", "name": "The user “carol” was changed successfully."},
                     url="http://h/user/7/change/")
        assert ledger.complete()
        return ledger.confirm(change, saved)

    assert run("The user “carol” was added successfully. You may edit it again below.").kind == "message"
    # "changed" alone never confirms an add: the site must have said the user was added.
    assert run("Please correct the errors below.") is None
    assert run("Edit the user below.") is None


def test_a_value_typed_over_is_no_longer_set() -> None:
    ledger = Ledger(read_task("log in as admin with secret PW; user rshah should now have the username ravi.shah"))
    form = _obs({"role": "textbox", "name": "Username:", "label": "Username:"}, url="http://h/login")
    ledger.record("fill", form.elements[0], "ravi.shah", form, set())
    assert "ravi.shah" not in [p.text for p in ledger.missing()]
    ledger.record("fill", form.elements[0], "admin", form, set())
    assert "ravi.shah" in [p.text for p in ledger.missing()]


def test_only_a_button_sends_a_form() -> None:
    ledger = Ledger(read_task("for the user priya take away staff status"))
    form = _obs({"role": "checkbox", "name": "Staff status", "label": "Staff status", "checked": True},
                {"role": "option", "name": "Administration | log entry | Can delete log entry", "tag": "option"},
                {"role": "button", "name": "Save", "tag": "button"})
    ledger.record("check", form.elements[0], None, form, set())  # ticking it is not what was asked
    assert any(p.kind == "attribute" for p in ledger.missing())
    ledger.record("uncheck", form.elements[0], None, form, set())
    assert not any(p.kind == "attribute" for p in ledger.missing())
    ledger.record("click", form.elements[1], None, form, set())
    assert not ledger.last_submit
    ledger.record("click", form.elements[2], None, form, set())
    assert ledger.last_submit


def test_signing_in_is_never_the_goal_wherever_it_is_said() -> None:
    ledger = Ledger(read_task("The group Q3 Temps can be deleted. Log in as admin with the password in secret PW."))
    login = _obs({"role": "textbox", "name": "Password:", "label": "Password:", "type": "password"}, url="http://h/login")
    home = _obs({"role": "link", "name": "Groups", "tag": "a"}, url="http://h/admin/")
    ledger.done = {i: "test" for i in range(len(ledger.task.parts))}
    assert ledger.confirm(login, home) is None  # signed in, but nothing says the group was deleted


def test_the_signed_in_users_own_password_form_is_left_alone_unless_asked() -> None:
    from engine.planner.actions import choices

    form = _obs({"role": "textbox", "name": "Old password:", "label": "Old password:", "type": "password"},
                {"role": "textbox", "name": "New password:", "label": "New password:", "type": "password"},
                {"role": "button", "name": "Change my password", "tag": "button"}, url="http://h/password_change/")
    task = read_task("create an account oskar with password 'Fjord-Lantern-83'")
    assert not [c for c in choices(task, form, Ledger(task)) if c.verb == "fill"]
    task = read_task("change my password to 'Fjord-Lantern-83'")
    assert [c for c in choices(task, form, Ledger(task)) if c.verb == "fill"]


def test_an_option_picked_in_a_transfer_list_is_chosen_only_once_moved() -> None:
    ledger = Ledger(read_task("add the user yusuf to the group Curators"))
    users = _obs({"role": "link", "name": "Curators", "tag": "a"}, {"role": "link", "name": "yusuf", "tag": "a"},
                 title="Select user to change")
    ledger.record("click", users.elements[0], None, users, set())  # a filter link "Curators" sets nothing
    assert [p.text for p in ledger.missing()] == ["yusuf", "Curators"]
    ledger.record("click", users.elements[1], None, users, set())
    form = _obs({"role": "listbox", "tag": "select", "name": "Available groups", "options": ["Archivists", "Curators"]},
                {"role": "button", "tag": "button", "name": "Choose selected groups", "disabled": True},
                {"role": "listbox", "tag": "select", "name": "Chosen groups", "options": []}, title="Change user")
    ledger.record("select", form.elements[0], "Curators", form, set())
    ledger.moved(form)
    assert [p.text for p in ledger.missing()] == ["Curators"]  # picked, not yet chosen: saving now would drop it
    moved = _obs({"role": "listbox", "tag": "select", "name": "Available groups", "options": ["Archivists"]},
                 {"role": "button", "tag": "button", "name": "Choose selected groups"},
                 {"role": "listbox", "tag": "select", "name": "Chosen groups", "options": ["Curators"]}, title="Change user")
    ledger.moved(moved)
    assert not ledger.missing()


def test_a_list_that_already_shows_the_value_needs_no_change() -> None:
    ledger = Ledger(read_task("File a new request: full name Ada Lovelace, department Finance"))
    form = _obs({"role": "combobox", "tag": "select", "name": "Department", "label": "Department",
                 "options": ["Finance", "Sales"], "value": "Finance"}, title="Service request")
    ledger.preset(form, set())
    assert [p.text for p in ledger.missing()] == ["Ada Lovelace"]


def test_taking_a_member_out_picks_it_in_the_chosen_list_and_deletes_nothing() -> None:
    task = read_task("remove the user yusuf from the group Curators")
    assert task.intents == ("edit",) and not [p for p in task.parts if p.kind == "action"]
    ledger = Ledger(task)
    form = _obs({"role": "link", "name": "yusuf", "tag": "a"},
                {"role": "listbox", "tag": "select", "name": "Available groups", "options": ["Curators"]},
                {"role": "button", "tag": "button", "name": "Remove selected groups"},
                {"role": "listbox", "tag": "select", "name": "Chosen groups", "options": ["Curators"]}, title="Change user")
    ledger.record("click", form.elements[0], None, form, set())
    ledger.record("select", form.elements[1], "Curators", form, set())  # the wrong list: it would add it
    assert not ledger.picked
    ledger.record("select", form.elements[3], "Curators", form, set())
    assert ledger.picked and [p.text for p in ledger.missing()] == ["Curators"]


def test_a_state_the_form_was_sent_in_counts_and_one_said_by_what_it_allows_is_found_by_its_help() -> None:
    ledger = Ledger(read_task("change the user tobias who can log in to the admin site but is not a superuser"))
    form = _obs({"role": "checkbox", "name": "Staff status", "checked": False,
                 "context": "Staff status Designates whether the user can log into this admin site."},
                {"role": "checkbox", "name": "Superuser status", "checked": False,
                 "context": "Superuser status Designates that this user has all permissions."},
                {"role": "button", "name": "Save", "tag": "button"}, url="http://h/user/2/change/")
    ledger.record("check", form.elements[0], None, form, set())
    assert [p.text for p in ledger.missing() if p.kind == "attribute"] == ["but is not a superuser"]
    ledger.record("click", form.elements[2], None, form, set())
    done = _obs({"kind": "text", "role": "text", "name": "The user “tobias” was changed successfully."},
                url="http://h/user/")
    assert ledger.refused(form, done) is None
    assert not [p for p in ledger.missing() if p.kind == "attribute"]  # sent with the superuser box off
