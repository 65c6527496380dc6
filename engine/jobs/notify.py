"""Tell someone when an unattended job fails: a webhook POST (JSON) and, if configured, a mail.

A notification that cannot be delivered is logged and dropped: it never fails the job or the daemon.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from loguru import logger
from pydantic import BaseModel

from engine.config import Settings
from engine.logs import mask

TIMEOUT_S = 10


class Failure(BaseModel):
    """What a notification says about one failed scheduled run."""

    job_id: str
    job_name: str
    scheduled_for: str
    attempt: int
    status: str
    error: str | None = None
    report: str | None = None
    run_id: str | None = None

    def text(self) -> str:
        lines = [f"Job '{self.job_name}' ({self.job_id}) {self.status} for {self.scheduled_for}, attempt {self.attempt}."]
        if self.error:
            lines.append(f"Error: {self.error}")
        if self.report:
            lines.append(f"Report: {self.report}")
        return mask("\n".join(lines))


def post_webhook(url: str, payload: dict[str, Any]) -> bool:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "rpa-daemon"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - a configured URL
            ok = 200 <= response.status < 300
    except OSError as err:
        logger.warning("notify: webhook {} failed: {}", mask(url), err)
        return False
    if not ok:
        logger.warning("notify: webhook {} answered {}", mask(url), response.status)
    return ok


def send_mail(settings: Settings, subject: str, body: str) -> bool:
    host = getattr(settings, "smtp_host", None)
    to = getattr(settings, "smtp_to", None)
    if not host or not to:
        return False
    name, _, port = host.partition(":")
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, getattr(settings, "smtp_from", None) or "rpa@localhost", to
    message.set_content(body)
    try:
        with smtplib.SMTP(name, int(port or 25), timeout=TIMEOUT_S) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as err:
        logger.warning("notify: mail to {} via {} failed: {}", to, host, err)
        return False
    return True


def notify_failure(settings: Settings, failure: Failure) -> None:
    """Webhook (``RPA_WEBHOOK_URL``) and mail (``RPA_SMTP_HOST`` + ``RPA_SMTP_TO``), whichever is set."""
    text = failure.text()
    if settings.webhook_url:
        payload = {"event": "job_failed", "text": text, **failure.model_dump()}
        post_webhook(settings.webhook_url, json.loads(mask(json.dumps(payload))))
    send_mail(settings, f"[rpa] job {failure.job_name} {failure.status}", text)
