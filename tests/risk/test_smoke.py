"""Seed 003's smoke test, automated: 50 clicks in 10 minutes on one partner's link (through the real
redirect and click flush) put the partner on hold; their due assignment is then not published (a fake
Reddit over real HTTP sees no post) and their withdrawal is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from contentflow.jobs.clicks import flush_clicks
from contentflow.models import Assignment, Hold
from contentflow.models.base import utcnow
from contentflow.queueing import job_catalog
from contentflow.services import holds, ledger, links, payouts
from plugins.risk.models import RiskFinding

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def burst(app, client, db, partner, ready_asset):
    """50 visits of Pat's short link, flushed to the database, then the velocity sweep run by name."""
    link = links.get_or_create_link(partner.id, ready_asset.id)
    db.session.commit()
    for _ in range(50):
        assert client.get(f"/l/{link.code}", headers={"User-Agent": BROWSER}).status_code == 302
    assert flush_clicks() == "flushed 50 clicks"
    result = app.test_cli_runner().invoke(args=["jobs", "run", "sweep_velocity"])
    assert result.exit_code == 0, result.output
    return result.output


def test_fifty_clicks_in_ten_minutes_put_the_partner_on_hold(db, partner, burst):
    assert "sweep_velocity: 1 partner(s) caught, 1 newly held" in burst
    assert holds.is_on_hold(partner.id)
    hold = db.session.scalars(db.select(Hold)).one()
    finding = db.session.get(RiskFinding, hold.id)
    assert (hold.reason, hold.source, finding.figure) == ("velocity", "risk", 50)


def test_held_partners_due_assignment_is_not_published(
    app_on_fake, db, partner, ready_asset, burst, fake_reddit, make_account, make_assignment
):
    due = make_assignment(make_account(partner), ready_asset, planned_at=utcnow() - timedelta(minutes=1))
    with app_on_fake.app_context():
        outcome = job_catalog(app_on_fake).get("publish_due")(utcnow().isoformat())
    assert outcome == "publish_due: nothing due"
    assert fake_reddit.submissions == []
    db.session.expire_all()
    assert db.session.get(Assignment, due.id).status == "approved"


def test_held_partners_withdrawal_is_refused(db, partner, burst):
    partner.payout_method, partner.payout_paypal_email = "paypal", "pat@example.com"
    ledger.record_entry(
        partner.id, "adjustment", 50_000, f"test:{uuid.uuid4().hex}", created_at=utcnow() - timedelta(days=60)
    )
    db.session.commit()
    with pytest.raises(payouts.PartnerOnHold):
        payouts.request_withdrawal(partner, 5_000, "paypal")
