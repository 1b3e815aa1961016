"""E-mail shares: to contacts who agreed, through the core outbox and Brevo (a local stand-in over real
HTTP), with a one-click unsubscribe honoured by every partner, within a daily limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from contentflow.models import OutboxMessage
from contentflow.models.base import utcnow
from contentflow.queueing.worker import make_worker
from plugins.sharekit import services
from plugins.sharekit.models import Share, Unsubscribe
from tests.conftest import csrf_token_of, sign_in


@pytest.fixture
def made(make_submission, partner):
    return make_submission(partner, title="Trois outils IA", cta="Try it:", hashtags="#ia")


def share(client, made, emails: str, *, consent: bool = True, **headers):
    token = csrf_token_of(client, f"/byop/kit?id={made.id}")
    data = {"emails": emails, "submission": made.id, "csrf_token": token}
    if consent:
        data["consent"] = "y"
    return client.post("/byop/email", data=data, headers=headers)


def outbox(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_share_queues_one_email_per_address_with_unsubscribe_headers(partner_client, db, made):
    response = share(partner_client, made, "ann@example.com, Bob@Example.com;\nann@example.com")
    assert response.status_code == 303
    rows = outbox(db)
    assert [row.to_email for row in rows] == ["ann@example.com", "bob@example.com"]
    for row in rows:
        assert row.tag == "share"
        assert "#ad" in row.text_body and "Trois outils IA" in row.text_body
        stop = row.headers["List-Unsubscribe"].strip("<>")
        assert stop.startswith("https://cf.example.org/share/unsubscribe/")
        assert stop in row.text_body
        assert row.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [logged] = db.session.scalars(select(Share)).all()
    assert (logged.channel, logged.recipients_count, logged.has_consent) == ("email", 2, True)
    assert logged.consent_text == "Every recipient agreed to receive this e-mail from me."


def test_brevo_gets_exactly_the_share_with_its_headers(make_app, httpserver, committed):
    from contentflow.models import ShortLink
    from contentflow.services import offers, partners
    from plugins.byop import services as byop

    app = make_app(BREVO_API_KEY="k", BREVO_API_URL=httpserver.url_for("/v3"))
    httpserver.expect_oneshot_request("/v3/smtp/email", method="POST").respond_with_json(
        {"messageId": "<m1>"}, status=201
    )
    with app.test_request_context():
        partner = partners.get_or_create_partner("pat@example.com")
        partner.locale = "en"
        offers.create_network("acme", "s3cret-s3cret-s3cret")
        offers.create_offer("Acme", "acme", "https://acme.example.net/go?sub={subid}", cpc_cents=12)
        made = byop.create_submission(partner.id, title="Trois outils IA", cta="Try it:", hashtags="#ia")
        committed.session.commit()
        user_id, made_id = partner.get_id(), made.id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = user_id, True
    token = csrf_token_of(client, f"/byop/kit?id={made_id}")
    data = {"emails": "Ann@Example.com", "consent": "y", "submission": made_id, "csrf_token": token}
    assert client.post("/byop/email", data=data).status_code == 303
    make_worker(app, simple=True).work(burst=True)

    [(request, _)] = httpserver.log
    committed.session.expire_all()
    link = committed.session.scalar(select(ShortLink))
    short = f"https://cf.example.org/l/{link.code}"
    [row] = committed.session.scalars(select(OutboxMessage)).all()
    stop = row.headers["List-Unsubscribe"].strip("<>")
    assert stop.startswith("https://cf.example.org/share/unsubscribe/")
    assert (request.method, request.path, request.headers["api-key"]) == ("POST", "/v3/smtp/email", "k")
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_json() == {
        "sender": {"name": "ContentFlow", "email": "noreply@contentflow.local"},
        "to": [{"email": "ann@example.com"}],
        "subject": "Trois outils IA",
        "textContent": (
            "pat@example.com shared this with you:\n\n"
            f"Trois outils IA\n\nTry it: {short}\n\n#ia #ad\n\n"
            f"This message is an ad (#ad). To receive no more of these e-mails: {stop}"
        ),
        "htmlContent": (
            "<p>pat@example.com shared this with you:</p>\n"
            f"<p>Trois outils IA<br><br>Try it: {short}<br><br>#ia #ad<br></p>\n"
            f'<p><a href="{short}">{short}</a></p>\n'
            '<p style="font-size:12px;color:#5d6475">This message is an ad (#ad). '
            f'<a href="{stop}">Receive no more of these e-mails</a></p>'
        ),
        "tags": ["share"],
        "headers": {"List-Unsubscribe": f"<{stop}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }


def test_a_script_in_the_title_cta_or_hashtags_stays_text_in_the_email(
    partner_client, db, partner, make_submission
):
    made = make_submission(
        partner, title="<script>alert(1)</script>", cta="<img src=x onerror=alert(1)>", hashtags="<b>#ia</b>"
    )
    assert share(partner_client, made, "ann@example.com").status_code == 303
    [row] = outbox(db)
    assert "<script>" not in row.html_body and "<img" not in row.html_body and "<b>" not in row.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row.html_body
    assert "&lt;img src=x onerror=alert(1)&gt;" in row.html_body
    assert "#b #ia #ad" in row.text_body  # hashtags are words: the markup is gone
    assert row.subject == "<script>alert(1)</script>"  # a header is text, never rendered as HTML


def test_without_consent_nothing_is_sent(partner_client, db, made):
    response = share(partner_client, made, "ann@example.com", consent=False, **{"HX-Request": "true"})
    assert response.status_code == 400
    assert "Tick that every recipient agreed" in response.get_data(as_text=True)
    assert outbox(db) == []


@pytest.mark.parametrize(
    ("emails", "message"),
    [
        ("ann@example.com, not-an-address", "Not an e-mail address: not-an-address"),
        ("", "Give at least one e-mail address."),
        (", ".join(f"p{n}@example.com" for n in range(21)), "20 addresses at most per share."),
    ],
    ids=["bad", "none", "too-many"],
)
def test_bad_addresses_answer_400_and_send_nothing(partner_client, db, made, emails, message):
    response = share(partner_client, made, emails)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert outbox(db) == []
    assert db.session.scalars(select(Share)).all() == []


def test_the_daily_limit_lets_the_last_one_through_then_answers_429_with_what_is_left(
    make_app, db, partner, made
):
    client = make_app(SHARE_EMAIL_DAILY_LIMIT=3).test_client()
    sign_in(client, partner)
    assert share(client, made, "a@example.com, b@example.com").status_code == 303
    refused = share(client, made, "c@example.com, d@example.com", **{"HX-Request": "true"})
    assert refused.status_code == 429
    assert "You can send 1 more share e-mail(s) today." in refused.get_data(as_text=True)
    assert share(client, made, "c@example.com").status_code == 303
    assert share(client, made, "e@example.com").status_code == 429
    assert len(outbox(db)) == 3


def test_the_daily_limit_is_a_rolling_day(app, db, partner, made):
    from contentflow.services import links

    with app.test_request_context():
        links.get_or_create_link(partner.id, made.asset_id)
        services.share_by_email(partner, made.asset_id, "a@example.com", has_consent=True, consent_text="ok")
        day_later = utcnow() + timedelta(hours=24, minutes=1)
        limit = app.config["SHARE_EMAIL_DAILY_LIMIT"]
        assert services.remaining_today(partner.id) == limit - 1
        assert services.remaining_today(partner.id, now=day_later) == limit


def unsubscribe_link(db) -> str:
    [row] = outbox(db)
    return row.headers["List-Unsubscribe"].strip("<>").removeprefix("https://cf.example.org")


def test_one_click_unsubscribe_without_a_form_stops_every_partners_shares(
    partner_client, client, db, made, make_partner, make_submission
):
    share(partner_client, made, "ann@example.com")
    path = unsubscribe_link(db)
    assert "ann@example.com" in client.get(path).get_data(as_text=True)
    assert client.post(path).status_code == 200  # a mail client's one-click POST: no CSRF token
    assert client.post(path).status_code == 200  # twice: still one address recorded
    assert len(db.session.scalars(select(Unsubscribe)).all()) == 1
    other = make_partner("other@example.com", locale="en")
    theirs = make_submission(other)
    other_client = partner_client.application.test_client()
    sign_in(other_client, other)
    response = share(other_client, theirs, "Ann@example.com, bob@example.com")
    assert response.status_code == 303
    assert [row.to_email for row in outbox(db)] == ["ann@example.com", "bob@example.com"][0:1] + [
        "bob@example.com"
    ]


def test_a_tampered_unsubscribe_link_answers_404(client, db):
    assert client.get("/share/unsubscribe/forged-token").status_code == 404
    assert client.post("/share/unsubscribe/forged-token").status_code == 404


def test_email_sharing_switched_off_removes_the_form_and_the_route(make_app, db, partner, made):
    client = make_app(SHARE_EMAIL_ENABLED=False).test_client()
    sign_in(client, partner)
    page = client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    assert 'id="sharekit-email"' not in page
    assert share(client, made, "ann@example.com").status_code == 404
    assert outbox(db) == []
