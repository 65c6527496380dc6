"""Unattended jobs: a crash-safe scheduling daemon on APScheduler 3 (``rpa schedule``, ``rpa daemon``)."""

from engine.jobs.daemon import Daemon, DaemonOptions
from engine.jobs.models import JobDef, JobView, TriggerSpec
from engine.jobs.store import JobStore
from engine.jobs.triggers import build_trigger, make_spec, parse_duration

__all__ = ["Daemon", "DaemonOptions", "JobDef", "JobStore", "JobView", "TriggerSpec", "build_trigger", "make_spec",
           "parse_duration"]
