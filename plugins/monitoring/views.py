"""``/admin/monitoring``: the admin dashboard (behind the admin login), and its cards alone for htmx
polling. Both answer the full page to a plain request. Read-only: nothing here writes or commits."""

from __future__ import annotations

from flask import request

from contentflow.htmx import render_page_or_partial
from contentflow.models.base import utcnow
from contentflow.plugin import admin_blueprint
from plugins.monitoring.dashboard import dashboard_context
from plugins.monitoring.services import summary as summaries

bp = admin_blueprint(
    "monitoring", __name__, url_prefix="/admin/monitoring", static_folder="static", static_url_path="/static"
)


def _range() -> int:
    raw = request.args.get("days", str(summaries.RANGES[0]))
    # ASCII digits only (str.isdigit() also accepts "²"), and few: int() refuses "²" and 4,300+ digits.
    is_number = raw.isascii() and raw.isdigit() and len(raw) <= 9
    return summaries.check_range(int(raw) if is_number else 0)


def _render(partial: str):
    summary = summaries.summarize(days=_range(), now=utcnow())
    return render_page_or_partial("monitoring/dashboard.html", partial, **dashboard_context(summary))


@bp.get("/")
def dashboard():
    """The dashboard; htmx (the range switch) gets its ``monitoring-dashboard`` partial."""
    return _render("monitoring/_dashboard.html")


@bp.get("/cards")
def cards():
    """The cards alone for htmx polling (``monitoring-cards``); the whole page otherwise."""
    return _render("monitoring/_cards.html")
