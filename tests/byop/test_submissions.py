"""BYOP submissions: the form, validation, the asset it makes (owner, offer, revenue share, hashtags,
ingestion), the partner's list, and who may see what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contentflow.models import Asset, Offer
from contentflow.queueing import get_queue
from plugins.byop.models import Submission
from tests.conftest import csrf_token_of, sign_in


def submit(client, **fields):
    data = {"title": "Trois outils IA", "csrf_token": csrf_token_of(client, "/byop/new"), **fields}
    return client.post("/byop/submit", data=data)


def submissions(db) -> list[Submission]:
    db.session.expire_all()
    return list(db.session.scalars(select(Submission)))


def test_new_form_has_the_seed_fields_and_the_headline_offer_chosen(partner_client, offer, make_offer):
    make_offer("Other", cpc_cents=5)
    page = partner_client.get("/byop/new").get_data(as_text=True)
    for name in ("source_url", "title", "description", "hashtags", "cta", "offer"):
        assert f'name="{name}"' in page
    assert f'<option selected value="{offer.id}">Acme CPC</option>' in page


def test_the_default_offer_is_the_headline_one_not_the_first_made(partner_client, db, offer, make_offer):
    headline = make_offer("Zeta", cpc_cents=50)  # current_offer(): the best CPC, made last, named last
    page = partner_client.get("/byop/new").get_data(as_text=True)
    assert f'<option selected value="{headline.id}">Zeta</option>' in page
    submit(partner_client)  # no offer field: the service picks the headline too
    assert db.session.get(Asset, submissions(db)[0].asset_id).offer_id == headline.id


def test_submit_without_csrf_answers_400_and_makes_nothing(partner_client, db, offer):
    response = partner_client.post("/byop/submit", data={"title": "Trois outils IA"})
    assert response.status_code == 400
    assert submissions(db) == []


def test_submit_makes_an_asset_owned_by_the_partner_and_goes_to_its_kit(partner_client, db, partner, offer):
    response = submit(
        partner_client, cta="Try it:", hashtags="ia, #Tools #tools #productivité", description="60 s"
    )
    [made] = submissions(db)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/byop/kit?id={made.id}"
    asset = db.session.get(Asset, made.asset_id)
    assert (asset.owner_partner_id, asset.offer_id, asset.status) == (partner.id, offer.id, "ready")
    assert asset.revshare_bps == 4000 == made.revshare_bps
    assert asset.hashtags == "#ia #Tools #productivité"
    assert (asset.title, asset.cta, asset.description) == ("Trois outils IA", "Try it:", "60 s")


def test_submit_without_hashtags_takes_the_default_ones(partner_client, db, offer):
    submit(partner_client)
    assert db.session.get(Asset, submissions(db)[0].asset_id).hashtags == "#ia #tools #productivité"


def test_submit_with_a_video_url_enqueues_its_ingestion(partner_client, db, app, offer):
    submit(partner_client, source_url="https://videos.example.net/clip.mp4")
    asset = db.session.get(Asset, submissions(db)[0].asset_id)
    assert (asset.status, asset.source_url) == ("new", "https://videos.example.net/clip.mp4")
    assert [job.func_name for job in get_queue("ingest", app).jobs] == [
        "contentflow.jobs.assets.ingest_asset"
    ]


def test_submit_promotes_the_chosen_active_offer(partner_client, db, offer, make_offer):
    other = make_offer("Other", revshare_pct="30")
    submit(partner_client, offer=str(other.id))
    assert db.session.get(Asset, submissions(db)[0].asset_id).offer_id == other.id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "Give your post a title."),
        ({"source_url": "javascript:alert(1)"}, "Give an http:// or https:// address"),
        ({"source_url": "file:///etc/passwd"}, "Give an http:// or https:// address"),
        ({"title": "x" * 201}, "Field cannot be longer than 200 characters."),
        ({"hashtags": "#" + "a" * 400}, "Field cannot be longer than 300 characters."),
        ({"cta": "c" * 201}, "Field cannot be longer than 200 characters."),
    ],
    ids=["no-title", "javascript-url", "file-url", "long-title", "long-hashtags", "long-cta"],
)
def test_bad_input_answers_400_with_the_form_and_creates_nothing(partner_client, db, offer, fields, message):
    response = submit(partner_client, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert submissions(db) == []
    assert db.session.scalars(select(Asset)).all() == []


@pytest.mark.parametrize("value", ["abc", "99999999999999999999", "-1", "0"])
def test_an_offer_that_is_no_active_offers_id_answers_400_and_makes_nothing(partner_client, db, offer, value):
    response = submit(partner_client, offer=value)
    assert response.status_code == 400
    assert "Choose one of the active offers." in response.get_data(as_text=True)
    assert submissions(db) == []
    assert db.session.scalars(select(Asset)).all() == []


def test_a_script_in_the_fields_stays_text_when_the_form_comes_back(partner_client, db, offer):
    response = submit(
        partner_client,
        title="<script>alert(1)</script>",
        cta="<img src=x onerror=alert(1)>",
        source_url="javascript:alert(1)",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_inactive_offer_is_refused(partner_client, db, offer, make_offer):
    other = make_offer("Old")
    other.is_active = False
    db.session.commit()
    assert submit(partner_client, offer=str(other.id)).status_code == 400
    assert submissions(db) == []


def test_without_an_active_offer_the_form_says_so_and_nothing_is_made(partner_client, db):
    page = partner_client.get("/byop/new").get_data(as_text=True)
    assert "There is no offer to promote right now" in page
    assert submit(partner_client).status_code == 400
    assert submissions(db) == []


def test_a_script_in_the_title_is_escaped_on_the_list(partner_client, db, partner, make_submission):
    make_submission(partner, title="<script>alert(1)</script>")
    page = partner_client.get("/byop/submissions").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_list_shows_only_the_partners_own(client, db, partner, make_partner, make_submission):
    make_submission(partner, title="Mine")
    other = make_partner("other@example.com", locale="en")
    make_submission(other, title="Theirs")
    sign_in(client, partner)
    page = client.get("/byop/submissions").get_data(as_text=True)
    assert "Mine" in page and "Theirs" not in page


def test_the_list_polls_while_an_asset_is_ingested_and_stops_after(
    partner_client, db, partner, make_submission
):
    made = make_submission(partner, source_url="https://videos.example.net/clip.mp4")
    headers = {"HX-Request": "true", "HX-Trigger": "byop-submissions"}
    moving = partner_client.get("/byop/submissions", headers=headers)
    assert moving.status_code == 200 and 'hx-trigger="every 3s"' in moving.get_data(as_text=True)
    db.session.get(Asset, made.asset_id).status = "ready"
    db.session.commit()
    assert partner_client.get("/byop/submissions", headers=headers).status_code == 286


def test_the_list_page_and_its_partial(partner_client, db, partner, make_submission):
    make_submission(partner)
    assert "<html" in partner_client.get("/byop/submissions").get_data(as_text=True)
    partial = partner_client.get("/byop/submissions", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<section id="byop-submissions"')


def test_without_the_share_kit_the_submit_goes_to_the_list(make_app, db, partner, offer):
    app = make_app(FEATURE_SHAREKIT=False)
    client = app.test_client()
    sign_in(client, partner)
    response = submit(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/byop/submissions"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert client.get("/byop/new").headers["Location"] == "/partners"


def test_byop_off_removes_its_pages_the_kit_and_its_api(make_app, db, partner, make_submission):
    made = make_submission(partner)
    client = make_app(FEATURE_BYOP=False).test_client()
    sign_in(client, partner)
    for path in ("/byop/new", "/byop/submissions", f"/byop/kit?id={made.id}"):
        assert client.get(path).status_code == 404, path
    token = csrf_token_of(client, "/partner/portal")
    for path in ("/byop/submit", "/byop/log", "/byop/email", "/api/byop/publish"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path
    assert db.session.scalar(select(Offer.id)) is not None  # nothing else went away
    portal = client.get("/partner/portal").get_data(as_text=True)
    assert 'href="/byop/' not in portal  # no menu entry
    assert "Bring your own post" not in portal
