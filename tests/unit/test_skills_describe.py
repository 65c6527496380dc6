"""`rpa record --describe`: params named after their fields, described, typed; a description from the steps."""

from __future__ import annotations

from engine.plan import Plan
from engine.skills.describe import describe_plan


def test_describe_names_and_describes_params():
    plan = Plan.model_validate({"name": "x", "params": {"value": "INV-1001", "value_2": "a@b.example", "city": "Oslo"},
                                "steps": [
        {"id": "s1", "action": "goto", "value": "http://127.0.0.1:8765/invoices"},
        {"id": "s2", "action": "fill", "target": {"label": "Invoice"}, "value": "{{ params.value }}"},
        {"id": "s3", "action": "fill", "target": {"css": "#contact-email"}, "value": "{{ params.value_2 }}"},
        {"id": "s4", "action": "fill", "target": {"placeholder": "City"}, "value": "{{ params.city }}"},
        {"id": "s5", "action": "click", "target": {"role": "button", "name": "Search"}},
        {"id": "s6", "action": "extract", "target": {"css": "#total"}, "output": "total"}]})
    out = describe_plan(plan)
    assert list(out.params) == ["invoice", "contact_email", "city"]  # a good name is kept
    assert out.params["contact_email"].type == "email" and "contact email" in out.params["contact_email"].description
    assert out.step("s2").value == "{{ params.invoice }}" and out.step("s3").value == "{{ params.contact_email }}"
    assert out.description == "Open 127.0.0.1, fill Invoice, fill contact email, fill City, click Search, read total."
    kept = describe_plan(plan.model_copy(update={"description": "My own words."}))
    assert kept.description == "My own words."
