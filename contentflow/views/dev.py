"""Development-only pages (never registered in production): the outbox of e-mails not sent."""

from __future__ import annotations

from flask import Blueprint, render_template

from contentflow.services import mail

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/outbox")
def outbox():
    return render_template("dev/outbox.html", messages=mail.dev_outbox())
