"""What an instruction asks for, read without the model: values, secrets, parts."""

from __future__ import annotations

from engine.planner.task import lead_verbs, read_task, stem


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


def test_a_request_put_as_a_state_is_a_part_of_the_goal() -> None:
    # Read as nothing to do, these ran to "succeeded" without doing the change (false successes).
    task = read_task("The summer temps are gone, so the group Q3 Temps can be deleted. Log in as admin "
                     "with the password in secret DJANGO_PW.")
    assert "delete" in task.intents and ("value", "Q3 Temps") in _parts(task.instruction)
    assert "edit" in read_task("login admin, pw = secret PW; user rshah should now have the username ravi.shah").intents
    assert ("action", "archiv") in _parts("The group Sales should be archived")  # asked, though no site offers it


def test_logins_put_other_ways_use_the_named_secret_only() -> None:
    for text in ("First get into the admin site as admin (the password is kept in secret PW), then set up a group",
                 "Once you are signed in as admin (password in secret PW), delete the group X",
                 "Authenticate as admin using the secret PW and delete the group X",
                 "Open the admin with user admin and the password from secret PW. Then create a group"):
        task = read_task(text)
        assert "login" in task.intents and task.secrets == ["PW"], text
        assert {v.text for v in task.values if v.kind == "secret"} == {"{{ secrets.PW }}"}, text
    assert "create" in read_task("set up a new group named Night Shift").intents


def test_what_is_kept_and_what_must_not_be_done_ask_nothing() -> None:
    assert _parts("delete the Contractors 2025 group (the 2026 one stays)") == [
        ("value", "Contractors 2025"), ("action", "delete")]
    assert _parts("delete the user Wendell; Wendy must stay") == [("value", "Wendell"), ("action", "delete")]
    assert "delet" not in read_task("take away her staff status; do not delete it").words


def test_attributes_taken_away_are_parts_to_untick() -> None:
    parts = read_task("for the user priya take away staff status and mark the account as not active").parts
    assert [(p.words, p.off) for p in parts if p.kind == "attribute"] == [(("staff",), True), (("activ",), True)]
    assert [p.kind for p in parts if p.kind == "action"] == []


def test_a_case_instruction_changes_the_value_typed() -> None:
    assert read_task('Type "ALICE" in all lower case letters in the text input').values[0].text == "alice"
    assert read_task("enter 'abc' in capitals").values[0].text == "ABC"


def test_who_signs_in_and_what_a_named_thing_is_made() -> None:
    task = read_task("The account wendell is gone. Using admin and the secret PW as its password, log in and delete "
                     "that user completely")
    assert [(v.text, v.field) for v in task.values if v.clause == 1 and v.kind == "literal"] == [("admin", ("user",))]
    assert "completely" not in {v.text for v in task.values}  # how it is done, not a value
    assert "login" in read_task("Enter the admin as admin, taking the password from secret PW").intents
    # a named thing made something is edited, and what it is made is an attribute; "make a group named X" creates
    made = read_task("make the user bob a superuser")
    assert made.intents == ("edit",) and [p.words for p in made.parts if p.kind == "attribute"] == [("superuser",)]
    assert [p.off for p in read_task("mark user bob as not active").parts if p.kind == "attribute"] == [True]
    created = read_task("make a group named Cooks")
    assert created.intents == ("create",) and not [p for p in created.parts if p.kind == "attribute"]


def test_a_thing_said_to_be_called_otherwise_is_renamed() -> None:
    task = read_task("our group Field Ops should be spelled out in full from now on: Field Operations")
    assert task.intents == ("edit",)
    new = next(v for v in task.values if v.text == "Field Operations")
    assert new.replaces == "Field Ops" and new.field == (stem("name"),)
    assert read_task("rename the group Auditors as Inspectors").values[-1].replaces == "Auditors"


def test_a_named_thing_joining_another_is_an_edit_with_a_value_to_choose() -> None:
    task = read_task("Log in as admin with the password in secret PW and put the user yusuf into the Curators group")
    assert task.clause_intents == ("login", "edit")
    assert [(v.text, v.choose) for v in task.values if v.clause == 1] == [("yusuf", False), ("Curators", True)]
    assert read_task("add a group named Cooks").intents == ("create",)
    assert not any(v.choose for v in read_task('put "abc" into the Name field').values)


def test_a_secret_is_named_before_or_after_the_word() -> None:
    assert read_task("Log in as admin using the DJANGO_PW secret and delete the group X").secrets == ["DJANGO_PW"]
    # the plain word after "secret" is no name when an identifier before it is
    assert read_task("Log in as admin (DJANGO_PW secret holds the password)").secrets == ["DJANGO_PW"]
    assert read_task("admin / secret DJANGO_PW. need a group 'Field-Technicians'").clause_intents[:2] == ("login", "create")


def test_context_greetings_and_what_stays_ask_nothing() -> None:
    task = read_task("Hi! hsato is joining the audit team. Log in as admin (password in secret PW) and put him in "
                     "the Auditors group as well. Leave the other groups alone. Yes, I'm sure.")
    assert [p.kind for p in task.parts if p.kind == "action"] == ["action"]  # only the login
    values = {v.text: v for v in task.values}
    assert values["hsato"].field == ("user",) and values["Auditors"].choose  # "him": whom the context named
    assert "well" not in values and "hi" not in task.words


def test_what_must_not_be_done_holds_no_value() -> None:
    task = read_task("delete the group Legacy, but don't touch the user accounts")
    assert [v.text for v in task.values] == ["Legacy"]


def test_a_possessive_names_the_record_and_letters_of_any_script_are_words() -> None:
    values = {v.text: v.field for v in read_task(
        "fill in the real name on mgarcia's account: first name María, last name García-López").values}
    assert values == {"mgarcia": ("user",), "María": ("first", "nam"), "García-López": ("last", "nam")}


def test_states_and_restatements_are_requests() -> None:
    values = read_task("Our Interns group is now officially the Apprentices group").values
    assert [(v.text, v.replaces) for v in values] == [("Interns", None), ("Apprentices", "Interns")]
    task = read_task('The Helpdesk group should be allowed to edit users, i.e. grant it the "Can change user" permission')
    assert [(v.text, v.choose) for v in task.values] == [("Helpdesk", False), ("Can change user", True)]
    moved = {v.text: (v.choose, v.leave) for v in read_task("move kowusu from Day Shift into Night Shift").values}
    assert moved == {"kowusu": (False, False), "Day Shift": (True, True), "Night Shift": (True, False)}


def test_a_request_put_as_news_is_still_asked() -> None:
    # Context asks nothing, but a need is a request: "Bob needs staff status" makes Bob staff.
    assert [(p.kind, p.text) for p in read_task("Bob needs staff status").parts] == [("value", "Bob"), ("attribute", "staff")]
    assert [p.kind for p in read_task("Bob needs a better chair").parts] == ["action"]  # no page does it: it fails
    assert read_task("Priya has left the company").parts == ()


def test_the_login_may_be_told_anywhere() -> None:
    task = read_task("Please log in as admin first; the password is kept in the DJANGO_PW secret.")
    assert task.secrets == ["DJANGO_PW"] and [p.kind for p in task.parts] == ["value", "action", "secret"]
    assert read_task("Log in as admin (password in DJANGO_PW)").secrets == ["DJANGO_PW"]  # no word "secret"
    assert read_task("Log in as admin to do it; DJANGO_PW holds the password.").secrets == ["DJANGO_PW"]
    told = read_task("You'll need to sign in as admin for this. The password is in the DJANGO_PW secret.")
    assert "login" in told.intents and [v.text for v in told.values if v.kind == "literal"] == ["admin"]


def test_switching_an_account_off_and_states_of_membership() -> None:
    task = read_task("pwhite: deactivate, don't delete.")
    assert [(p.kind, p.text, p.off) for p in task.parts] == [("value", "pwhite", False), ("attribute", "active", True)]
    made = read_task("Create a staff account: username rkumar, password Violet-Canyon-2026. He belongs in the Help Desk group.")
    assert ("attribute", "staff") in [(p.kind, p.text) for p in made.parts]
    assert [(v.text, v.choose) for v in made.values if v.clause == 1] == [("rkumar", False), ("Help Desk", True)]
    granted = read_task('The Auditors group needs read-only access, so give it the "Can view user" and "Can view group" permissions')
    assert [v.text for v in granted.values if v.choose] == ["Can view user", "Can view group"]


def test_context_that_names_more_than_its_subject_is_read_as_asked() -> None:
    # "He belongs in the Help Desk group" states what must be so: never dropped as mere context
    task = read_task("Create the user rkumar with password 'Violet-Canyon-2026'. He is in Sales now.")
    assert any(p.text == "Sales" for p in task.parts)
    assert read_task("Hi, this is HR. Marisol Vega starts on Monday.").parts == ()


def test_a_reason_before_its_request_is_context_and_its_subject_the_pronoun() -> None:
    task = read_task('The Auditors group needs read-only access, so give it the "Can view user" permission')
    assert [(v.text, v.field, v.choose) for v in task.values] == [
        ("Auditors", ("group",), False), ("Can view user", ("permission",), True)]
    assert [c for c in read_task("Disable his account, j.okafor, so he can't sign in").clauses] == ["Disable his account, j.okafor"]


def test_states_said_in_a_relative_clause_are_attributes_of_the_record() -> None:
    # "who is staff but is not a superuser": each state is a part, never dropped (a run that left it
    # undone was recorded as succeeded)
    task = read_task("add a user tobias, password 'Amber-Quill-31', who can log in to the admin site (staff) "
                     "but is not a superuser")
    assert [(p.words, p.off, p.described) for p in task.parts if p.kind == "attribute"] == [
        (("staff",), False, False), (("superuser",), True, False)]
    said = read_task("add a user tobias with password 'x' who can log in to the admin site")
    assert [(p.words, p.described) for p in said.parts if p.kind == "attribute"] == [(("log", "admin"), True)]
    # an event or a name is no state
    assert not [p for p in read_task("add a user ann who is joining the team").parts if p.kind == "attribute"]
    assert not [p for p in read_task("add a group that is called Ops").parts if p.kind == "attribute"]


def test_a_permission_said_unquoted_or_as_a_state_is_granted() -> None:
    task = read_task("As admin (password in the DJANGO_PW secret), set up a new group named Onboarding Coordinators "
                     "whose members are allowed to add users, i.e. it should have the Can add user permission.")
    assert task.clause_intents == ("login", "create", "edit")  # the request is kept, its restatement is one
    assert [(v.text, v.field, v.choose) for v in task.values if v.clause == 2] == [
        ("Onboarding Coordinators", ("group",), False), ("Can add user", ("permission",), True)]
    state = read_task("The Auditors group should have the Can view user and Can view group permissions")
    assert [v.text for v in state.values if v.choose] == ["Can view user", "Can view group"]


def test_a_polite_question_is_its_request_and_a_persons_name_is_first_and_last() -> None:
    task = read_task("Could you fill in the profile details for mchen? Her name is Mei Chen.")
    assert [(v.text, v.field) for v in task.values] == [
        ("mchen", ("user",)), ("Mei", ("first", stem("name"))), ("Chen", ("last", stem("name")))]
    # a "full name" may be one field of its own: kept whole
    assert [v.text for v in read_task("create a user with full name Ada Lovelace").values] == ["Ada Lovelace"]


def test_both_stands_for_what_the_sentence_before_named_and_a_value_said_twice_is_one() -> None:
    task = read_task("Two of our groups are obsolete now, Temp Interns and Pilot 2025. Get rid of both.")
    assert task.clause_intents == (None, "delete")
    assert [(p.kind, p.text, p.clause) for p in task.parts if p.kind == "value"] == [
        ("value", "Temp Interns", 1), ("value", "Pilot 2025", 1)]
    creds = read_task("Admin credentials: user admin, and the password is the DJANGO_PW secret.")
    assert [(v.text, v.field) for v in creds.values if v.kind == "literal"] == [("admin", ("user",))]


def test_a_request_glued_to_the_login_keeps_its_values() -> None:
    # a run that dropped them signed in, opened the account and was recorded as succeeded
    task = read_task("Sign into the admin area as admin (the secret DJANGO_PW has the password) and on the account "
                     "dkowalski set the last name to Nowak-Kowalska and the email address to dorota.nowak@example.com.")
    assert task.clause_intents[-2:] == ("open", "edit")
    assert [(v.text, v.replaces) for v in task.values if v.kind == "literal"] == [
        ("admin", None), ("dkowalski", None), ("Nowak-Kowalska", None), ("dorota.nowak@example.com", None)]


def test_a_value_the_reader_drops_is_named_never_planned_around() -> None:
    from engine.planner.task import _unread

    # what was read holds every value: nothing unread
    said = "Create user sam with password 'S3cret x' and email sam@x.org, then add him to Team 7"
    assert read_task(said).unread == ()
    # quoted text, an e-mail address and anything with a digit that nothing read holds are named, in order
    assert _unread(said, ["sam", "S3cret x"]) == ("sam@x.org", "7")
    assert _unread(said, []) == ("S3cret x", "sam@x.org", "7")
    # a position, a secret's name and what must not be done are no values
    assert _unread("Type hi into the 2nd box with secret PW_2, but don't touch box 9", ["hi"]) == ()
    # a clause read as context or as what stays keeps its values (they are no task)
    assert read_task("jfletcher left in 2025, remove his account").unread == ()
    assert read_task("Delete the group Interns 2024 (the 2025 one stays)").unread == ()


def test_whose_field_whom_an_attribute_is_given_and_who_signs_in_after_a_colon() -> None:
    # "the first name of jlmoreau": the record, never the value the field holds now
    names = read_task("set the first name of jlmoreau to Jean-Luc and the last name to Moreau-Lambert")
    assert [(v.text, v.field) for v in names.values] == [
        ("jlmoreau", ("user",)), ("Jean-Luc", ("first", "nam")), ("Moreau-Lambert", ("last", "nam"))]
    # whom an attribute is given, with or without the record's noun
    for said in ("give the user pkowalski staff status", "give pkowalski staff status", "make erin staff",
                 "mark erin as staff"):
        task = read_task(said)
        assert [p.kind for p in task.parts] == ["value", "attribute"], said
        assert task.parts[1].words[0] == "staff" and task.parts[0].text in ("pkowalski", "erin")
    assert [(p.kind, p.text) for p in read_task("give the user staff status").parts] == [("attribute", "staff status")]
    login = read_task("Update user ialvarez's email to i@example.org. Login: admin, password in secret DJANGO_PW.")
    assert [(v.text, v.field) for v in login.values if v.clause == 1] == [
        ("admin", ("user",)), ("{{ secrets.DJANGO_PW }}", ("password",))]


def test_a_pronoun_stands_for_the_one_named_last() -> None:
    task = read_task("Piotr is joining the helpdesk team. Please give the user pkowalski staff status and add him "
                     "to the Helpdesk group.")
    assert [(v.text, v.clause) for v in task.values] == [("pkowalski", 1), ("pkowalski", 2), ("Helpdesk", 2)]


def test_what_can_go_is_deleted_and_what_is_kept_asks_nothing() -> None:
    task = read_task("We retired the lobby terminal, so the old_kiosk account can go. Delete that user (confirm the "
                     "deletion) but keep kiosk2. The admin login is admin with the password in secret DJANGO_PW.")
    assert task.clause_intents == ("delete", "delete", None, "login")
    assert [(v.text, v.clause) for v in task.values if v.kind == "literal"] == [("old_kiosk", 0), ("admin", 3)]
    assert next(v for v in task.values if v.text == "admin").field == ("user",)
    assert read_task("Delete the user old_kiosk but keep kiosk2.").clause_intents == ("delete", None)
    assert read_task("the group Temps can go").clause_intents == ("delete",)
    assert read_task("the group Temps can go to the archive").clause_intents != ("delete",)


def test_what_is_not_asked_in_brackets_and_a_join_target_replaces_nothing() -> None:
    # "(not Reviewers)" once put the new user in both groups, recorded as succeeded
    task = read_task('Create a user "marta-jensen" with the password "Quiet-Harbor-913" and put her in the Editors '
                     'group (not Reviewers).')
    assert "Reviewers" not in [v.text for v in task.values]
    moved = read_task("Please take the user ines out of the Sales group and add her to Finance instead.")
    assert [(v.text, v.field, v.replaces, v.choose, v.leave) for v in moved.values] == [
        ("ines", ("user",), None, False, False), ("Sales", ("group",), None, True, True),
        ("ines", ("user",), None, False, False), ("Finance", (), None, True, False)]
    perms = read_task('give the Auditors group the permissions "Can view user" and "Can view group"')
    assert [(v.text, v.choose) for v in perms.values] == [("Auditors", False), ("Can view user", True),
                                                          ("Can view group", True)]


def test_not_being_in_a_group_takes_the_record_out_and_a_kept_state_asks_only_that() -> None:
    # "She should not be in Reviewers" was once a value to use: she was put in Reviewers, recorded as succeeded
    task = read_task("Give the user lena staff status and put her in the Editors group. She should not be in Reviewers.")
    assert [(v.text, v.choose, v.leave) for v in task.values if v.clause == 2] == [("lena", False, False),
                                                                                   ("Reviewers", True, True)]
    assert read_task("Put bob in Editors. Bob is not in Sales.").clause_intents[1] is None  # how things stand
    kept = read_task("Take away the staff status but leave the account active otherwise")
    assert [(p.kind, p.words, p.off) for p in kept.parts] == [("attribute", ("staff",), True),
                                                              ("attribute", ("activ",), False)]
    assert read_task("add ahmed to Night Shift. victor is not on the rota, so leave him out.").parts[-1].text == "Night Shift"


def test_each_of_several_users_joining_a_group_is_its_own_record() -> None:
    task = read_task("Create a group named Night Shift, and add the users ahmed and lucia to it.")
    joins = [(v.text, v.clause, v.choose) for v in task.values if v.clause > 0]
    assert joins == [("ahmed", 1, False), ("lucia", 2, False), ("Night Shift", 1, True), ("Night Shift", 2, True)]
    assert next(v for v in read_task("Use the admin login; the password is in secret PW").values).text == "admin"


def test_a_change_asked_in_a_clause_the_reader_cannot_read_is_named() -> None:
    task = read_task("Create a group named Night Shift, then update his group membership accordingly.")
    assert task.unread == ("update his group membership accordingly",)
    assert read_task("We renamed Warehouse to Logistics. Could you rename it?").unread == ()  # points back only
    signs_in = read_task("Set the last name of swhite to White. Admin password is in secret PW.")
    assert signs_in.clause_intents[-1] == "login" and any(v.text == "admin" and v.field == ("user",) for v in signs_in.values)


def test_a_request_with_a_verb_the_reader_does_not_know_is_still_a_part() -> None:
    # held_out_6's false success: "... and schedule X" was swallowed by the sign-in, and ", so nobody ..." taken
    # for the request; the account was deactivated now and the run recorded as succeeded
    task = read_task("Log in as admin (secret password) and schedule gdavis's account to be deactivated "
                     "automatically on that date, so nobody has to remember to do it.")
    assert ("action", "schedule") in [(p.kind, p.text) for p in task.parts]
    assert read_task("Log in as admin with secret PW and schedule the user bob for removal").clauses[1].startswith("schedule")
