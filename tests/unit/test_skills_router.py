"""Skills without the model: the library folders, params as spans, sequences, abstention, missing params."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import get_settings
from engine.errors import FailureKind, MissingInputError
from engine.skills import Router, RouteStatus, load_library, routed_plan
from engine.skills.library import PROJECT_RECORDINGS
from engine.bench.skills import judge, load_suite, SUITES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def router() -> Router:
    return Router(load_library(get_settings(), [PROJECT_RECORDINGS], defaults=False))


def _skill(folder: Path, name: str, extra: str = "") -> Path:
    text = (REPO / "recordings" / "download_invoice.yaml").read_text().replace("name: download_invoice", f"name: {name}")
    path = folder / f"{name}.yaml"
    path.write_text(text + extra)
    return path


def test_library_folders_versions_and_bad_files(tmp_path, monkeypatch, rpa_home):
    lib = load_library(get_settings())
    assert {"download_invoice", "login_and_search", "submit_form"} <= set(lib.names())
    assert "overhead_30" not in lib.names()  # a benchmark flow, not a bot
    extra = tmp_path / "more"
    extra.mkdir()
    _skill(extra, "fetch_bill")
    (extra / "fetch_bill.v2.yaml").write_text((extra / "fetch_bill.yaml").read_text().replace("INV-1007", "INV-1009"))
    (extra / "broken.yaml").write_text("name: broken\nsteps: []\n")
    home = rpa_home / "skills"
    home.mkdir(parents=True)
    _skill(home, "download_invoice")  # the user's own copy replaces the project's
    monkeypatch.setenv("RPA_SKILLS", str(extra))
    lib = load_library(get_settings())
    assert lib.get("fetch_bill").path.name == "fetch_bill.v2.yaml"
    assert lib.get("download_invoice").source == "home"
    assert any("broken.yaml" in e for e in lib.errors) and "broken" not in lib.names()


@pytest.mark.parametrize("instruction, skill, params", [
    ("download invoice INV-1042 and give me its total", "download_invoice", {"invoice": "INV-1042"}),
    ("sign in as bob and download invoice INV-1019", "download_invoice", {"username": "bob", "invoice": "INV-1019"}),
    ("count the invoices from Acme Supplies", "login_and_search", {"supplier": "Acme Supplies"}),
    ("send a request for Tim Berners-Lee to the IT department", "submit_form",
     {"full_name": "Tim Berners-Lee", "department": "IT"}),
])
def test_routes_with_params_from_spans(router, instruction, skill, params):
    routing = router.route(instruction)
    assert routing.status is RouteStatus.routed and routing.names() == [skill], routing.reason
    assert routing.chosen[0].values() == params
    for name, filled in routing.chosen[0].params.items():  # every value stands in the instruction
        assert filled.value.lower() in instruction.lower()


def test_a_sequence_is_one_plan_in_order(router):
    routing = router.route("download invoice INV-1001, then download invoice INV-1002")
    assert routing.names() == ["download_invoice", "download_invoice"]
    plan = routed_plan(routing)
    assert plan.params["p1_invoice"].default == "INV-1001" and plan.params["p2_invoice"].default == "INV-1002"
    assert "base_url" in plan.params and plan.secrets == ["password"]
    first_of_2 = next(s for s in plan.steps if s.id == "p2.open_login")
    assert set(first_of_2.depends_on) == {s.id for s in plan.steps if s.id.startswith("p1.")}
    assert routing.reason.startswith("routed to download_invoice(invoice=INV-1001)")


def test_abstains_and_says_none(router):
    amb = router.route("sign out of the sandbox")
    assert amb.status is RouteStatus.ambiguous and amb.reason.startswith("ambiguous")
    assert [c.name for c in amb.candidates[:3]] and not amb.chosen
    none = router.route("book a meeting room for Friday at 10")
    assert none.status is RouteStatus.none and none.reason.startswith("no skill fits")


def test_secrets_never_become_params(router):
    routing = router.route("download invoice INV-1003 with the password hunter2")
    values = [v for c in routing.chosen for v in c.values().values()]
    assert "hunter2" not in values and all("password" not in c.params for c in routing.chosen)


def test_missing_param_is_one_clear_error(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    path = _skill(folder, "pay_invoice")
    path.write_text(path.read_text().replace("  invoice:\n    default: INV-1007\n", "  invoice:\n")
                    .replace("description: Sign in, find one invoice", "description: Pay one invoice; sign in, find the invoice"))
    router = Router(load_library(get_settings(), [folder], defaults=False))
    with pytest.raises(MissingInputError) as err:
        router.route("pay the invoice")
    assert err.value.kind is FailureKind.input_missing and "'invoice'" in err.value.message
    assert "\n" not in err.value.message and "--param invoice=VALUE" in err.value.message
    assert router.route("pay the invoice", params={"invoice": "INV-1001"}).ok


def test_shipped_suite_shape():
    cases = load_suite(SUITES / "skills.yaml")
    assert len(cases) >= 60
    assert sum(c.skill is None for c in cases) >= len(cases) / 5
    never_looked_at = [c for c in cases if c.split in ("held_out_3", "held_out_5", "held_out_6")]
    assert len(never_looked_at) >= 0.3 * len(cases)
    assert {c.split for c in cases} == {"tuned", "held_out", "held_out_2", "held_out_3", "tuned_4", "held_out_5",
                                        "tuned_5", "held_out_6"}
    skills = set(load_library(get_settings(), [PROJECT_RECORDINGS], defaults=False).names())
    assert {s for c in cases for s in c.skill or []} <= skills


def test_judge_counts_a_wrong_run_and_an_abstention(router):
    case = load_suite(SUITES / "skills.yaml")[3]  # "delete invoice INV-1020": no skill fits
    assert case.skill is None
    wrong = judge(case, router.route("download invoice INV-1020"))
    assert wrong["wrong_run"] and not wrong["skill_ok"]
    assert judge(case, router.route("sign out of the sandbox"))["abstained"]


def test_what_the_instruction_forbids_rules_a_skill_out(router):
    routing = router.route("search the invoice list for INV-1046 but don't open or download it")
    assert "download_invoice" not in routing.names()
    # a typo of a skill's word still reads as that word; context after a comma does not sink the request
    assert router.route("dowload invoice INV-1013 pls").names() == ["download_invoice"]
    assert router.route("INV-1034 as a csv please, it's for the month-end pack").names() == ["download_invoice"]


def test_a_written_date_is_the_date_param_and_another_name_cues_a_param(router):
    routing = router.route("file a service request for Grace Hopper, due March 15, 2027")
    assert routing.chosen[0].values() == {"full_name": "Grace Hopper", "due_date": "2027-03-15"}
    # a date without its year, or one the text leaves open (March or April), is no date at all
    assert "due_date" not in router.route("file a service request for Grace Hopper due 03/04/2027").chosen[0].values()
    assert router.route("my login is oscar, download invoice INV-1022").chosen[0].values() == \
        {"username": "oscar", "invoice": "INV-1022"}
    # "Accounting" is a department, not another name for an account
    assert "username" not in router.route("pull the total of INV-1017, Accounting is asking").chosen[0].values()
    # a count is no verb the skill would have to do
    assert router.route("Two requests please: first one for Fatima Haddad due 14 May 2027, then another one for "
                        "Sven Lindqvist in IT").names() == ["submit_form", "submit_form"]


def test_a_part_that_only_goes_on_with_the_previous_one(router):
    # values alone: the previous skill again
    again = router.route("Download INV-1001 and then INV-1002 as well, please.")
    assert again.names() == ["download_invoice", "download_invoice"], again.reason
    assert [c.values() for c in again.chosen] == [{"invoice": "INV-1001"}, {"invoice": "INV-1002"}]
    # what fills the params the first part left open is more of the same request
    more = router.route("Open a service request for Hedy Lamarr; updates go to hedy@lamarr.example; "
                        "the Sales team handles it")
    assert more.names() == ["submit_form"], more.reason
    assert more.chosen[0].values() == {"full_name": "Hedy Lamarr", "email": "hedy@lamarr.example",
                                       "department": "Sales"}
    # a part with its own request stays a part of its own
    two = router.route("search the invoices for Globex, then delete invoice INV-1020")
    assert two.status is not RouteStatus.routed


def test_a_capitalized_first_word_is_no_name_and_a_clitic_no_value(router):
    # "Cancel" is capitalized only because it starts the sentence; no bot cancels
    assert router.route("Cancel service request REF-2041, we don't need it anymore.").status is RouteStatus.none
    routed = router.route("Can you put in a service request? It's for Katherine Johnson.")
    assert routed.chosen[0].values() == {"full_name": "Katherine Johnson"}
    assert router.route("Using the dave account, download invoice INV-1036.").chosen[0].values() == {
        "username": "dave", "invoice": "INV-1036"}
    assert router.route("how much is INV-1023?").names() == ["download_invoice"]


def test_a_change_to_what_exists_is_no_new_submission_and_a_correction_wins(router):
    # "set" is how a form's list is chosen, not evidence that a skill changes a request already made
    assert not router.route("update the due date of my request for Ada Lovelace to 2027-01-01").ok
    fixed = router.route("I want the CSV for INV-1040. Actually no, scratch that, make it INV-1041.")
    assert fixed.names() == ["download_invoice"] and fixed.chosen[0].values() == {"invoice": "INV-1041"}
    # context that asks nothing is no part of the job; a possessive ends a value
    ctx = router.route("I'm out tomorrow; please lodge a service request for Joan Clarke with IT.")
    assert ctx.names() == ["submit_form"] and ctx.chosen[0].values()["full_name"] == "Joan Clarke"
    assert router.route("can you get me invoice INV-1011's CSV?").chosen[0].values() == {"invoice": "INV-1011"}
