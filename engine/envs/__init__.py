"""Environments a planner practises and is measured in (MiniWoB++ task pages)."""
