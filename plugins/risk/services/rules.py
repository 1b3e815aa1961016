"""The fraud rules: what each sweep finds, and the hold it places through the core holds service.

- ``velocity``: at least ``RISK_VELOCITY_MAX_CLICKS_10M`` clicks (billable or not) on one partner's links
  in the last 10 minutes. One query on ``ix_clicks_created``, cheap enough to run every minute.
- ``shared_ip``: one hashed visitor IP clicking the links of at least ``RISK_SHARED_IP_MAX_PARTNERS``
  partners within ``RISK_SHARED_IP_WINDOW_MINUTES`` (bots and link previews left out): each of those
  partners is held.
- ``fast_conversions``: at least ``RISK_FAST_CONVERSIONS_MAX`` sales reported less than
  ``RISK_FAST_CONVERSION_SECONDS`` after their click within ``RISK_FAST_CONVERSION_WINDOW_HOURS``.

A threshold of 0 switches its rule off. One open hold per partner and rule: ``hold_for`` locks the
partner's row, then the core's ``place_hold`` returns the active hold of that reason when there is one,
and the finding (with its figure) is written once per hold (its primary key is the hold's id). A hold an
admin lifted during the window is not placed again for the same window: the admin has judged those
clicks. Nothing here commits; the jobs commit per partner.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from contentflow.extensions import db
from contentflow.models import Click, Conversion, Hold
from contentflow.models.base import insert_or_skip
from contentflow.services import holds, partners
from plugins.risk.models import RiskFinding

VELOCITY_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Finding:
    """A partner a rule caught: what it counted (``figure``) against which ``threshold``, over which
    ``window``, and a line for people (the hold's detail)."""

    partner_id: str
    rule: str
    figure: int
    threshold: int
    window: timedelta
    detail: str


def velocity_counts(*, now: datetime, threshold: int) -> list[tuple[str, int]]:
    """(partner id, clicks) of the partners with at least ``threshold`` clicks in the 10 minutes up to
    ``now``: one query, a range scan of ``ix_clicks_created``. Read-only."""
    count = func.count()
    rows = db.session.execute(
        select(Click.partner_id, count)
        .where(Click.created_at > now - VELOCITY_WINDOW, Click.created_at <= now)
        .group_by(Click.partner_id)
        .having(count >= threshold)
    ).all()
    return [(partner_id, int(clicks)) for partner_id, clicks in rows]


def velocity_findings(*, now: datetime) -> list[Finding]:
    """The velocity rule's findings at ``now`` (none when its threshold is 0). Read-only."""
    threshold = current_app.config["RISK_VELOCITY_MAX_CLICKS_10M"]
    if threshold <= 0:
        return []
    return [
        Finding(
            partner_id,
            "velocity",
            clicks,
            threshold,
            VELOCITY_WINDOW,
            f"{clicks} clicks in 10 minutes (threshold {threshold})",
        )
        for partner_id, clicks in velocity_counts(now=now, threshold=threshold)
    ]


def _shared_ip_pairs(now: datetime, threshold: int, window: int) -> list[tuple[str, str]]:
    """(partner id, ip hash) of the window's clicks (bots left out) by IPs that clicked at least
    ``threshold`` partners' links."""
    in_window = (
        Click.created_at > now - timedelta(minutes=window),
        Click.created_at <= now,
        Click.is_bot.is_(False),
    )
    crowded = (
        select(Click.ip_hash)
        .where(*in_window)
        .group_by(Click.ip_hash)
        .having(func.count(func.distinct(Click.partner_id)) >= threshold)
    )
    return db.session.execute(
        select(Click.partner_id, Click.ip_hash)
        .where(*in_window, Click.ip_hash.in_(crowded))
        .group_by(Click.partner_id, Click.ip_hash)
    ).all()


def shared_ip_findings(*, now: datetime) -> list[Finding]:
    """The shared-IP rule's findings at ``now``: every partner whose links were clicked by an IP that
    clicked at least ``RISK_SHARED_IP_MAX_PARTNERS`` partners' links in the window. The figure is the
    largest such count among the partner's IPs. Read-only."""
    config = current_app.config
    threshold, window = config["RISK_SHARED_IP_MAX_PARTNERS"], config["RISK_SHARED_IP_WINDOW_MINUTES"]
    if threshold <= 0 or window <= 0:
        return []
    partners_of_ip: dict[str, set[str]] = defaultdict(set)
    for partner_id, ip_hash in _shared_ip_pairs(now, threshold, window):
        partners_of_ip[ip_hash].add(partner_id)
    worst: dict[str, tuple[int, str]] = {}
    for ip_hash, caught in partners_of_ip.items():
        for partner_id in caught:
            worst[partner_id] = max(worst.get(partner_id, (0, "")), (len(caught), ip_hash))
    return [
        Finding(
            partner_id,
            "shared_ip",
            count,
            threshold,
            timedelta(minutes=window),
            f"one visitor IP (hash {ip_hash[:8]}) clicked {count} partners' links in {window} minutes "
            f"(threshold {threshold})",
        )
        for partner_id, (count, ip_hash) in sorted(worst.items())
    ]


def fast_conversion_findings(*, now: datetime) -> list[Finding]:
    """The fast-conversion rule's findings at ``now``: partners with at least ``RISK_FAST_CONVERSIONS_MAX``
    sales (not rejected) reported less than ``RISK_FAST_CONVERSION_SECONDS`` after their click, among the
    sales of the window (read through ``ix_conversions_created``). Read-only."""
    config = current_app.config
    threshold, seconds = config["RISK_FAST_CONVERSIONS_MAX"], config["RISK_FAST_CONVERSION_SECONDS"]
    hours = config["RISK_FAST_CONVERSION_WINDOW_HOURS"]
    if threshold <= 0 or seconds <= 0 or hours <= 0:
        return []
    rows = db.session.execute(
        select(Conversion.partner_id, Conversion.created_at, Click.created_at)
        .join(Click, Click.id == Conversion.click_id)
        .where(
            Conversion.created_at > now - timedelta(hours=hours),
            Conversion.created_at <= now,
            Conversion.partner_id.is_not(None),
            Conversion.status != "rejected",
        )
    ).all()
    too_fast: dict[str, int] = defaultdict(int)
    for partner_id, sold_at, clicked_at in rows:
        if sold_at - clicked_at < timedelta(seconds=seconds):
            too_fast[partner_id] += 1
    return [
        Finding(
            partner_id,
            "fast_conversions",
            count,
            threshold,
            timedelta(hours=hours),
            f"{count} sales less than {seconds} s after their click in {hours} h (threshold {threshold})",
        )
        for partner_id, count in sorted(too_fast.items())
        if count >= threshold
    ]


def _lifted_during(finding: Finding, now: datetime) -> bool:
    return (
        db.session.scalar(
            select(Hold.id)
            .where(
                Hold.partner_id == finding.partner_id,
                Hold.reason == finding.rule,
                Hold.source == "risk",
                Hold.lifted_at > now - finding.window,
            )
            .limit(1)
        )
        is not None
    )


def hold_for(finding: Finding, *, now: datetime) -> bool:
    """Hold the finding's partner for its rule (``RISK_HOLD_DAYS``, 0: until lifted; audit-logged by the
    holds service) and record the figure. Returns True when a new hold was placed; False when one of that
    rule is already active or an admin lifted one during the window. Idempotent: locks the partner's
    row, so two sweeps at once place one hold."""
    partners.lock_partner(finding.partner_id)
    if _lifted_during(finding, now):
        return False
    days = current_app.config["RISK_HOLD_DAYS"] or None  # 0: until an admin lifts it
    hold = holds.place_hold(
        finding.partner_id, finding.rule, source="risk", days=days, detail=finding.detail, now=now
    )
    written = db.session.scalar(
        insert_or_skip(RiskFinding, "hold_id")
        .values(
            hold_id=hold.id,
            partner_id=finding.partner_id,
            rule=finding.rule,
            figure=finding.figure,
            threshold=finding.threshold,
            window_minutes=int(finding.window.total_seconds() // 60),
            found_at=now,
        )
        .returning(RiskFinding.hold_id)
    )
    return written is not None
