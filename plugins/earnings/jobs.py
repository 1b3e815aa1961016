"""The earnings plugin's job: ``award_referral_bonuses``, every 15 minutes on the ``periodic`` queue."""

from __future__ import annotations

from datetime import datetime

from contentflow.extensions import db
from contentflow.models.base import utcnow
from contentflow.plugin import plugin_job
from plugins.earnings.services import referrals

#: Batches per run at most: a run ends even while another keeps adding work; the next run goes on.
MAX_BATCHES = 200


@plugin_job("earnings", "periodic")
def award_referral_bonuses(now: str | None = None) -> str:
    """Credit referrers their bonus on their referred partners' new earnings, then take back the bonus
    of reversed sales; one commit per batch. ``now`` (ISO 8601) is for tests and replays.

    Idempotent: each source entry gives one bonus and at most one reversal, also when runs overlap."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    awarded = reversed_count = 0
    for _ in range(MAX_BATCHES):
        handled = referrals.award_bonuses(now=moment)
        db.session.commit()
        awarded += handled
        if handled < referrals.BATCH_SIZE:
            break
    for _ in range(MAX_BATCHES):
        handled = referrals.reverse_bonuses(now=moment)
        db.session.commit()
        reversed_count += handled
        if handled < referrals.BATCH_SIZE:
            break
    return f"award_referral_bonuses: {awarded} earnings looked at, {reversed_count} reversed sales"
