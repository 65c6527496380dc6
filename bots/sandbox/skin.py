"""What ``--drift`` changes: the visible wording, ids, classes and test ids of the sandbox pages.

Pages never hard-code a label or an id; they ask the ``Skin``. The normal skin is what the shipped
recordings were made on; the drifted skin is what a site looks like after a cosmetic redesign:
a person can still do the same work, a bot bound to exact ids and labels cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

# key: (normal wording, drifted wording)
WORDS: dict[str, tuple[str, str]] = {
    "username": ("Username", "User name"),
    "password": ("Password", "Passcode"),
    "sign_in": ("Sign in", "Log in"),
    "sign_out": ("Sign out", "Log out"),
    "login_heading": ("Sign in to Sandbox Invoices", "Welcome back"),
    "bad_login": ("Invalid username or password", "Invalid username or password"),
    "search_label": ("Search", "Look up"),
    "search_button": ("Search", "Find"),
    "month_label": ("Month", "Billing month"),
    "all_months": ("All months", "Any month"),
    "next": ("Next", "Next page"),
    "previous": ("Previous", "Previous page"),
    "download_csv": ("Download CSV", "Export CSV"),
    "download_pdf": ("Download PDF", "Export PDF"),
    "back": ("Back to invoices", "All invoices"),
    "full_name": ("Full name", "Your name"),
    "email": ("Email", "E-mail address"),
    "phone": ("Phone", "Phone number"),
    "department": ("Department", "Team"),
    "priority": ("Priority", "Urgency"),
    "due_date": ("Due date", "Needed by"),
    "comments": ("Comments", "Notes for us"),
    "attachment": ("Attachment", "Attach a file"),
    "newsletter": ("Subscribe to the newsletter", "Send me the newsletter"),
    "terms": ("I accept the terms", "I agree to the terms"),
    "submit": ("Submit", "Send request"),
    "confirm": ("Confirm", "Yes, send it"),
    "cancel": ("Cancel", "Go back"),
    "confirm_title": ("Confirm submission", "Please confirm"),
}

# Test ids a plan may use; drift renames them all.
TEST_IDS = ("invoice-total", "result-count", "reference", "invoice-table", "login-error", "form-error",
            "page-info", "invoice-status", "invoice-supplier", "notes-body")


@dataclass(frozen=True)
class Skin:
    drift: bool = False

    def word(self, key: str) -> str:
        return WORDS[key][1 if self.drift else 0]

    def id(self, name: str) -> str:
        """Element ids and the ``for`` of labels."""
        return f"x-{name}-2" if self.drift else name

    def cls(self, name: str) -> str:
        return f"c2-{name}" if self.drift else name

    def test_id(self, name: str) -> str:
        assert name in TEST_IDS, name
        return f"{name}-v2" if self.drift else name
