"""What the dashboard's templates draw from a summary: its charts' geometry, the links of seed 004 (to
other plugins' pages only while the running app serves them), the labels of statuses and outcomes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import current_app, url_for
from flask_babel import format_date, format_number, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from contentflow.plugin import has_endpoint
from plugins.monitoring import charts
from plugins.monitoring.services import summary as summaries

ASSIGNMENT_LABELS = {
    "pending": _l("Waiting for review"),
    "approved": _l("Approved, due"),
    "posting": _l("Posting"),
    "posted": _l("Posted"),
    "failed": _l("Failed"),
    "skipped": _l("Skipped"),
    "needs_review": _l("Needs an admin"),
}
POSTBACK_LABELS = {
    "accepted": _l("Accepted"),
    "duplicate": _l("Duplicate"),
    "ignored": _l("Ignored"),
    "review": _l("Waiting for review"),
    "rejected": _l("Rejected"),
}
STATUS_LABELS = {
    "ok": _l("OK"),
    "failed": _l("Failed"),
    "late": _l("Late"),
    "never": _l("No run yet"),
    "unscheduled": _l("Not scheduled"),
}
#: Figures computed longer ago than this mean the refresh job is not running: the page says so.
STALE_AFTER = timedelta(minutes=5)
#: Endpoints of the risk plugin's pages that seed 004 links to: linked only while the app serves them
#: (``has_endpoint``), so the risk plugin is never imported and its flag off leaves no dead link.
RISK_PAYOUTS_ENDPOINT = "risk_ops.pending_payouts"
RISK_HOLDS_ENDPOINT = "risk_ops.holds_page"


def dashboard_context(summary: summaries.Summary) -> dict:
    """What the dashboard's templates draw: the summary, its charts, its links and the labels."""
    latest = summary.snapshot
    return {
        "summary": summary,
        "traffic": summary.traffic,
        "snapshot": latest,
        "is_stale": latest is not None and summary.now - latest.computed_at > STALE_AFTER,
        "health": summary.health,
        "ranges": summaries.RANGES,
        "refresh_seconds": current_app.config["MONITORING_REFRESH_SECONDS"],
        "charts": daily_charts(summary),
        "top_assets": charts.bar_chart([(r.label, r.figures.epc_cents or 0) for r in summary.top_assets]),
        "top_partners": charts.bar_chart([(r.label, r.figures.epc_cents or 0) for r in summary.top_partners]),
        "funnel": charts.bar_chart(funnel_steps(summary.traffic)),
        "funnel_notes": funnel_notes(summary.traffic),
        "asset_notes": [ranked_note(r) for r in summary.top_assets],
        "partner_notes": [ranked_note(r) for r in summary.top_partners],
        "min_clicks": summaries.TOP_MIN_BILLABLE_CLICKS,
        "links": dashboard_links(),
        "holds_url": served_url(RISK_HOLDS_ENDPOINT) or url_for("admin.partners"),
        "extra_cards": [(card, _card_url(card.endpoint)) for card in summary.extra_cards],
        "assignment_labels": ASSIGNMENT_LABELS,
        "postback_labels": POSTBACK_LABELS,
        "status_labels": STATUS_LABELS,
    }


def daily_charts(summary: summaries.Summary) -> dict[str, charts.ColumnChart]:
    """Clicks and revenue per day over the chart window."""
    days = [(format_date(day.day, "d MMM"), day.figures) for day in summary.daily]
    return {
        "clicks": charts.column_chart([(label, figures.click_count) for label, figures in days]),
        "revenue": charts.column_chart([(label, figures.revenue_cents) for label, figures in days]),
    }


def funnel_steps(traffic: summaries.Figures) -> list[tuple[str, int]]:
    """Clicks, billable clicks, conversions, confirmed: the funnel's rows."""
    return [
        (str(_l("Clicks")), traffic.click_count),
        (str(_l("Billable clicks")), traffic.billable_click_count),
        (str(_l("Conversions")), traffic.conversion_count),
        (str(_l("Confirmed")), traffic.confirmed_count),
    ]


def funnel_notes(traffic: summaries.Figures) -> list[str]:
    """Each step as a share of the step before it."""
    steps = [value for _label, value in funnel_steps(traffic)]
    notes = [""]
    for before, after in zip(steps, steps[1:], strict=False):
        notes.append(format_percent(Decimal(after) / before, "#,##0.0%") if before else "")
    return notes


def ranked_note(ranked: summaries.Ranked) -> str:
    """What a ranked partner's or asset's EPC rests on."""
    return _("%(count)s billable clicks", count=format_number(ranked.figures.billable_click_count))


def served_url(endpoint: str) -> str | None:
    """The URL of ``endpoint`` when the running app serves it (its plugin is on), else None."""
    return url_for(endpoint) if has_endpoint(endpoint) else None


def dashboard_links() -> list[tuple[str, str]]:
    """Seed 004's links: payouts to validate (the risk plugin's page when it is on, else the core's list
    of requested payouts), holds (only while the risk plugin serves them), the payouts journal."""
    links = [
        (
            str(_l("Payouts to validate")),
            served_url(RISK_PAYOUTS_ENDPOINT) or url_for("admin.payouts", status="requested"),
        )
    ]
    holds = served_url(RISK_HOLDS_ENDPOINT)
    if holds is not None:
        links.append((str(_l("Holds")), holds))
    links.append((str(_l("Payouts journal")), url_for("admin.payouts", status="paid")))
    return links


def _card_url(endpoint: str | None) -> str | None:
    return served_url(endpoint) if endpoint is not None else None
