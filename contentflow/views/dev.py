"""Development-only pages (never registered in production): the outbox of e-mails not sent."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from contentflow.extensions import db
from contentflow.models import DevOutboxMessage

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/outbox")
def outbox():
    messages = db.session.scalars(
        select(DevOutboxMessage).order_by(DevOutboxMessage.id.desc()).limit(50)
    ).all()
    return render_template("dev/outbox.html", messages=messages)
