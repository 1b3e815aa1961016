"""Outgoing e-mail through Brevo's transactional API (``POST /v3/smtp/email``), always from a job.

Without ``BREVO_API_KEY`` outside production, messages go to the console (stderr) and the dev outbox.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass

import requests
from flask import current_app

from contentflow.extensions import db
from contentflow.models import DevOutboxMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One outgoing e-mail; it travels to the job as a plain dict (``as_dict``)."""

    to: str
    subject: str
    text: str
    html: str = ""
    tag: str = "transactional"

    def as_dict(self) -> dict:
        return asdict(self)


class TransientMailError(RuntimeError):
    """Brevo could not take the message now (timeout, 429, 5xx): the job retries."""


class RejectedMailError(RuntimeError):
    """Brevo refused the message (4xx): retrying will not help."""


def brevo_payload(message: Message) -> dict:
    """The JSON body of Brevo's ``POST /v3/smtp/email`` for ``message``."""
    config = current_app.config
    payload = {
        "sender": {"name": config["EMAIL_FROM_NAME"], "email": config["EMAIL_FROM"]},
        "to": [{"email": message.to}],
        "subject": message.subject,
        "textContent": message.text,
        "tags": [message.tag],
    }
    if message.html:
        payload["htmlContent"] = message.html
    return payload


def deliver(message: Message) -> str:
    """Send ``message`` now. Returns Brevo's message id, or ``outbox`` in development without a key.

    Raises TransientMailError (retry) or RejectedMailError (do not retry). Never logs the body.
    """
    config = current_app.config
    if not config["BREVO_API_KEY"]:
        if config["IS_PRODUCTION"]:
            raise RejectedMailError("BREVO_API_KEY is not set")
        return _deliver_to_outbox(message)
    try:
        response = requests.post(
            f"{config['BREVO_API_URL'].rstrip('/')}/smtp/email",
            json=brevo_payload(message),
            headers={"api-key": config["BREVO_API_KEY"], "accept": "application/json"},
            timeout=10,
        )
    except requests.RequestException as error:
        raise TransientMailError(f"brevo unreachable: {type(error).__name__}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientMailError(f"brevo answered {response.status_code}")
    if response.status_code >= 400:
        raise RejectedMailError(f"brevo refused the message: {response.status_code} {response.text[:200]}")
    try:
        message_id = str(response.json().get("messageId", ""))
    except (ValueError, AttributeError):
        message_id = ""  # accepted all the same: raising now would send it a second time
    log.info("mail sent", extra={"tag": message.tag, "brevo_message_id": message_id})
    return message_id


def _deliver_to_outbox(message: Message) -> str:
    db.session.add(
        DevOutboxMessage(
            to_email=message.to, subject=message.subject, text_body=message.text, html_body=message.html
        )
    )
    db.session.flush()
    # Development only: the console is where a developer without Brevo reads the sign-in link.
    print(
        f"\n--- e-mail to {message.to}: {message.subject}\n{message.text}\n---", file=sys.stderr, flush=True
    )
    return "outbox"
