"""Double clicks and concurrent posts on committed data, with separate connections: "publish on my
accounts" makes one assignment per platform, and two e-mail shares at once cannot pass the daily limit
together (PostgreSQL: the unique index and the partner's row lock decide)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from contentflow.models import Assignment, OutboxMessage, PartnerAccount
from tests.conftest import csrf_token_of, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(app, committed):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("locks and unique indexes under real concurrency: PostgreSQL only")
    from contentflow.services import offers, partners
    from plugins.byop import services as byop

    with app.test_request_context():
        partner = partners.get_or_create_partner("pat@example.com")
        partner.locale = "en"
        offers.create_network("acme", "s3cret-s3cret-s3cret")
        offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
        for platform in ("reddit", "youtube"):
            committed.session.add(
                PartnerAccount(
                    partner_id=partner.id,
                    platform=platform,
                    handle="pat",
                    external_id=f"{platform}-pat",
                    access_token="token",
                    token_expires_at=datetime.now(UTC) + timedelta(days=30),
                )
            )
        submission = byop.create_submission(partner.id, title="Trois outils IA")
        committed.session.commit()
        return partner, submission.id


def together(*calls) -> list:
    """Run the calls at the same moment, each in its own thread; their results in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def signed_in_client(app, partner, page: str):
    client = app.test_client()
    sign_in(client, partner)
    return client, csrf_token_of(client, page)


def test_a_double_click_on_publish_makes_one_assignment_per_platform(app, committed, seeded):
    partner, submission_id = seeded
    clients = [signed_in_client(app, partner, f"/byop/kit?id={submission_id}") for _ in range(2)]
    payload = {"submissionId": submission_id, "platforms": ["reddit", "youtube"]}
    answers = together(
        *(
            (
                lambda c=client, t=token: c.post(
                    "/api/byop/publish", json=payload, headers={"X-CSRFToken": t}
                ).get_json()
            )
            for client, token in clients
        )
    )
    committed.session.expire_all()
    rows = committed.session.execute(
        select(Assignment.platform, func.count()).group_by(Assignment.platform)
    ).all()
    assert sorted(rows) == [("reddit", 1), ("youtube", 1)]
    created = sum(len(answer["created"]) for answer in answers)
    skipped = [skip["reason"] for answer in answers for skip in answer["skipped"]]
    assert (created, skipped) == (2, ["already_assigned", "already_assigned"])


def test_two_email_shares_at_once_cannot_pass_the_daily_limit(make_app, committed, seeded):
    partner, submission_id = seeded
    app = make_app(SHARE_EMAIL_DAILY_LIMIT=3)
    clients = [signed_in_client(app, partner, f"/byop/kit?id={submission_id}") for _ in range(2)]

    def share(client, token, first: int):
        emails = ", ".join(f"p{first + n}@example.com" for n in range(2))
        data = {"emails": emails, "consent": "y", "submission": submission_id, "csrf_token": token}
        return client.post("/byop/email", data=data).status_code

    statuses = together(*(lambda c=c, t=t, n=n: share(c, t, n * 10) for n, (c, t) in enumerate(clients)))
    assert sorted(statuses) == [303, 429]
    committed.session.expire_all()
    assert committed.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
