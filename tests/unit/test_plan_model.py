"""The plan format: YAML round trips, and validation errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import MissingInputError, PlanValidationError
from engine.plan import SCHEMA_VERSION, Action, Plan, dump_plan, load_plan, parse_plan, save_plan, topological_order
from engine.plan.template import render, resolve_params

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = sorted((REPO / "recordings").glob("*.yaml"))

FULL = """\
schema_version: 1
name: invoices
description: Download the newest invoice
instruction: get me the newest invoice
params:
  base_url: http://127.0.0.1:8000
  user:
    default: alice
    description: Login name
  query:
    description: What to search for
secrets: [password]
allowed_domains: [127.0.0.1]
idempotent: false
priority: 2.5
resources: {erp_seat: 1}
steps:
  - id: open
    action: goto
    value: "{{ params.base_url }}/login"
    expect: {url: /login$}
  - id: user
    action: fill
    target:
      - label: User name
      - css: "#user"
    value: "{{ params.user }}"
  - id: pass
    action: fill
    target: {placeholder: Password}
    value: "{{ secrets.password }}"
  - id: go
    action: click
    target: {role: button, name: Sign in, exact: true}
    expect:
      visible: {test_id: invoice-table}
      text: Invoices
    timeout_ms: 5000
    retries: 2
  - id: search
    action: fill
    target: {test_id: search}
    value: "{{ params.query }}"
  - id: count
    action: extract
    extract: count
    target: {css: "tr.row", nth: 0}
    output: rows
  - id: table
    action: extract
    extract: table
    target: {test_id: invoice-table}
    output: invoices
    depends_on: [go]
  - id: total
    action: extract
    extract: attribute
    attribute: data-total
    target: {test_id: total}
    output: total
    depends_on: [count, table]
  - id: check
    action: assert
    target: {text: "{{ outputs.total }}"}
  - id: pdf
    action: download
    target: {text: PDF}
    output: invoice_pdf
  - id: key
    action: press
    value: Enter
  - id: wait
    action: wait_for
    value: /done
"""


def test_full_plan_round_trips_without_loss():
    plan = parse_plan(FULL, "full.yaml")
    again = parse_plan(dump_plan(plan), "again.yaml")
    assert again == plan
    assert dump_plan(again) == dump_plan(plan)
    assert plan.step("user").target.locators[1].css == "#user"
    assert plan.step("go").action is Action.click and plan.step("go").retries == 2


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.name for p in RECORDINGS])
def test_every_shipped_recording_round_trips(path: Path):
    plan = load_plan(path)
    assert parse_plan(dump_plan(plan), "again") == plan


def test_save_refuses_to_overwrite(tmp_path):
    plan = parse_plan(FULL, "full.yaml")
    path = save_plan(plan, tmp_path / "p.yaml")
    before = path.read_bytes()
    with pytest.raises(PlanValidationError, match="file exists"):
        save_plan(plan, path)
    assert path.read_bytes() == before
    assert load_plan(path) == plan


def test_dag_order_and_defaults():
    plan = parse_plan(FULL, "full.yaml")
    order = topological_order(plan)
    assert order.index("go") < order.index("table") < order.index("total")
    assert order.index("count") < order.index("total")
    assert plan.dependencies()["user"] == ["open"]


def test_params_resolve_and_render():
    plan = parse_plan(FULL, "full.yaml")
    params = resolve_params(plan, {"query": "ACME"})
    assert params == {"base_url": "http://127.0.0.1:8000", "user": "alice", "query": "ACME"}
    text = render("{{ params.base_url }}/x?q={{params.query}}&p={{ secrets.password }}", params, {},
                  lambda name: "pw")
    assert text == "http://127.0.0.1:8000/x?q=ACME&p=pw"


def test_missing_and_unknown_parameters():
    plan = parse_plan(FULL, "full.yaml")
    with pytest.raises(MissingInputError, match="missing parameter 'query'.*--param query=VALUE"):
        resolve_params(plan, {})
    with pytest.raises(MissingInputError, match="parameter 'nope'"):
        resolve_params(plan, {"query": "x", "nope": "y"})


def _error(text: str, name: str = "plan.yaml") -> PlanValidationError:
    with pytest.raises(PlanValidationError) as info:
        parse_plan(text, name)
    return info.value


def test_malformed_yaml_names_file_and_line():
    err = _error("name: x\nsteps:\n  - id: a\n    action: [goto\n", "broken.yaml")
    assert err.message.startswith("Plan.validate: broken.yaml:")
    assert "malformed YAML" in err.message and err.line is not None


def test_unknown_action_names_file_line_and_field():
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: http://x\n  - id: b\n    action: clik\n")
    assert err.line == 7 and err.field == "steps[1](id=b).action"
    assert err.message.startswith("Plan.validate: plan.yaml:7 at steps[1](id=b).action:")
    assert "'clik'" in err.message


def test_missing_target_names_the_step():
    err = _error("name: x\nsteps:\n  - id: a\n    action: click\n")
    assert err.line == 3 and "steps[0](id=a)" in err.field
    assert "action 'click' needs a target" in err.message


def test_unknown_field():
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: http://x\n    tiemout: 3\n")
    assert "unknown field 'tiemout'" in err.message and err.line == 6


def test_undeclared_template_references():
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: '{{ params.url }}'\n")
    assert "params.url" in err.message and "does not declare" in err.message and err.line == 3
    err = _error("name: x\nsteps:\n  - id: a\n    action: fill\n    target: {css: x}\n    value: '{{ secrets.pw }}'\n")
    assert "secrets.pw" in err.message
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: '{{ outputs.total }}'\n")
    assert "outputs.total" in err.message and "no earlier step" in err.message


def test_output_of_a_step_that_is_not_an_ancestor_is_refused():
    text = """\
name: x
steps:
  - id: a
    action: goto
    value: http://x
  - id: b
    action: extract
    target: {css: p}
    output: t
    depends_on: [a]
  - id: c
    action: fill
    target: {css: i}
    value: "{{ outputs.t }}"
    depends_on: [a]
"""
    err = _error(text)
    assert "step 'c' uses outputs.t" in err.message and err.line == 11


def test_cycle_is_reported():
    text = """\
name: x
steps:
  - id: a
    action: goto
    value: http://x
    depends_on: [b]
  - id: b
    action: click
    target: {css: b}
    depends_on: [a]
"""
    err = _error(text)
    assert "cycle" in err.message and "a" in err.message and "b" in err.message


def test_unknown_dependency_and_duplicate_ids():
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: u\n    depends_on: [zz]\n")
    assert "unknown step 'zz'" in err.message
    err = _error("name: x\nsteps:\n  - id: a\n    action: goto\n    value: u\n  - id: a\n    action: goto\n    value: v\n")
    assert "used twice" in err.message


def test_schema_version_mismatch_names_both_versions():
    err = _error("schema_version: 7\nname: x\nsteps:\n  - id: a\n    action: goto\n    value: u\n")
    assert "7" in err.message and str(SCHEMA_VERSION) in err.message and err.line == 1
    assert err.field == "schema_version"


def test_locator_needs_exactly_one_kind():
    err = _error("name: x\nsteps:\n  - id: a\n    action: click\n    target: {css: a, text: b}\n")
    assert "exactly one of" in err.message and err.line == 5


def test_top_level_must_be_a_mapping():
    err = _error("- just\n- a list\n")
    assert "expected a mapping" in err.message


def test_missing_file():
    with pytest.raises(PlanValidationError, match="file not found"):
        load_plan("/nonexistent/plan.yaml")


def test_json_schema_is_available():
    schema = Plan.model_json_schema()
    assert "steps" in schema["properties"] and "Action" in schema["$defs"]
