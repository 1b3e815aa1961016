"""The share kit: the short link, the share text with #ad, the intents, the QR code, the share log, and who
may see a kit."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from contentflow.models import ShortLink
from contentflow.services import links
from plugins.sharekit.models import Share
from tests.conftest import csrf_token_of, sign_in

INTENT = {
    "whatsapp": "https://wa.me/",
    "telegram": "https://t.me/share/url",
    "x": "https://x.com/intent/post",
}


@pytest.fixture
def made(make_submission, partner):
    return make_submission(partner, title="Trois outils IA", cta="Try it:", hashtags="#ia #tools")


def intent_of(page: str, channel: str) -> str:
    start = page.index(f'data-channel="{channel}"')
    href = page.rindex('href="', 0, start) + len('href="')
    return page[href : page.index('"', href)].replace("&amp;", "&")


def short_url_of(db, partner, made) -> str:
    link = db.session.scalar(
        select(ShortLink).where(ShortLink.partner_id == partner.id, ShortLink.asset_id == made.asset_id)
    )
    return links.short_url(link)


def test_kit_shows_the_short_link_and_the_share_text_with_ad(partner_client, db, partner, made):
    page = partner_client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    short_url = short_url_of(db, partner, made)
    assert short_url.startswith("https://cf.example.org/l/")
    assert f"Trois outils IA\n\nTry it: {short_url}\n\n#ia #tools #ad</textarea>" in page
    assert 'id="sharekit-qr"' in page and "<svg" in page


def test_kit_links_to_the_three_intents_with_the_text(partner_client, db, partner, made):
    page = partner_client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    short_url = short_url_of(db, partner, made)
    text = f"Trois outils IA\n\nTry it: {short_url}\n\n#ia #tools #ad"
    for channel, base in INTENT.items():
        url = intent_of(page, channel)
        assert url.startswith(base + "?"), url
    assert parse_qs(urlsplit(intent_of(page, "whatsapp")).query) == {"text": [text]}
    assert parse_qs(urlsplit(intent_of(page, "x")).query) == {"text": [text]}
    telegram = parse_qs(urlsplit(intent_of(page, "telegram")).query)
    assert telegram["url"] == [short_url]
    assert "#ad" in telegram["text"][0]


def test_a_script_in_the_title_stays_text_in_the_page_and_the_intents(
    partner_client, db, partner, make_submission
):
    made = make_submission(partner, title='<script>alert("x")</script>', cta="<b>go</b>")
    page = partner_client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E" in intent_of(page, "x")


def test_a_script_in_the_cta_and_hashtags_stays_text_in_the_page_the_text_and_the_intents(
    partner_client, db, partner, make_submission
):
    made = make_submission(partner, title="Outils", cta="<img src=x onerror=alert(1)>", hashtags="<b>#ia</b>")
    page = partner_client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    assert "<img src=x" not in page and "<b>" not in page
    short_url = short_url_of(db, partner, made)
    text = f"Outils\n\n<img src=x onerror=alert(1)> {short_url}\n\n#b #ia #ad"
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    for channel in ("whatsapp", "x"):
        url = intent_of(page, channel)
        assert "<" not in url and " " not in url
        assert parse_qs(urlsplit(url).query) == {"text": [text]}


def test_a_kit_id_with_more_characters_answers_404(partner_client, db, made):
    assert partner_client.get(f"/byop/kit?id={made.id}x").status_code == 404


@pytest.mark.parametrize("whose", ["unknown", "another partner's"])
def test_a_kit_that_is_not_yours_answers_404(partner_client, db, make_partner, make_submission, whose):
    submission_id = "nope" if whose == "unknown" else make_submission(make_partner("o@example.com")).id
    assert partner_client.get(f"/byop/kit?id={submission_id}").status_code == 404


def test_any_asset_with_a_link_has_a_kit_at_share(partner_client, db, partner, make_asset, offer):
    asset = make_asset("Operator video", offer=offer, cta="See:")
    links.get_or_create_link(partner.id, asset.id)
    db.session.commit()
    page = partner_client.get(f"/share/{asset.id}")
    assert page.status_code == 200
    assert "Operator video" in page.get_data(as_text=True)
    assert 'id="byop-publish"' not in page.get_data(as_text=True)  # publishing is BYOP's


def test_an_asset_without_a_link_has_no_kit(partner_client, db, make_asset, offer):
    assert partner_client.get(f"/share/{make_asset('Not mine', offer=offer).id}").status_code == 404


def test_the_portal_lists_the_assets_to_share(partner_client, db, partner, made):
    partner_client.get(f"/byop/kit?id={made.id}")  # the kit makes the partner's link
    page = partner_client.get("/partner/portal").get_data(as_text=True)
    assert f'href="/share/{made.asset_id}"' in page


# --- the share log -------------------------------------------------------------------------------------


def log(client, made, channel: str, **headers):
    token = csrf_token_of(client, f"/byop/kit?id={made.id}")
    return client.post(
        "/byop/log", data={"channel": channel, "submission": made.id, "csrf_token": token}, headers=headers
    )


def shares(db) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(s.channel, s.asset_id) for s in db.session.scalars(select(Share).order_by(Share.id))]


def test_a_copy_by_htmx_is_logged_and_answers_the_log_partial(partner_client, db, made):
    response = log(partner_client, made, "copy", **{"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "sharekit:shared"
    assert response.get_data(as_text=True).lstrip().startswith('<section id="sharekit-log"')
    assert 'data-channel="copy"' in response.get_data(as_text=True)
    assert shares(db) == [("copy", made.asset_id)]


def test_a_copy_without_javascript_is_logged_and_goes_back(partner_client, db, made):
    response = log(partner_client, made, "copy")
    assert (response.status_code, response.headers["Location"]) == (303, f"/byop/kit?id={made.id}")
    assert shares(db) == [("copy", made.asset_id)]


def test_an_intent_without_javascript_is_logged_and_opens_the_platform(partner_client, db, made):
    response = log(partner_client, made, "whatsapp")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://wa.me/?text=")
    assert shares(db) == [("whatsapp", made.asset_id)]


def test_the_seeds_ch_field_still_names_the_channel(partner_client, db, made):
    token = csrf_token_of(partner_client, f"/byop/kit?id={made.id}")
    partner_client.post("/byop/log", data={"ch": "telegram", "submission": made.id, "csrf_token": token})
    assert shares(db) == [("telegram", made.asset_id)]


def test_the_seeds_log_url_works_as_a_post(partner_client, db, made):
    token = csrf_token_of(partner_client, f"/byop/kit?id={made.id}")
    response = partner_client.post(f"/byop/log?ch=x&id={made.id}", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://x.com/intent/post?text=")
    assert shares(db) == [("x", made.asset_id)]


def test_the_seeds_log_url_by_get_logs_nothing(partner_client, db, made):
    assert partner_client.get(f"/byop/log?ch=copy&id={made.id}").status_code == 405
    assert shares(db) == []


@pytest.mark.parametrize("channel", ["email", "fax", ""])
def test_an_unknown_channel_answers_400_and_logs_nothing(partner_client, db, made, channel):
    assert log(partner_client, made, channel).status_code == 400
    assert shares(db) == []


def test_logging_needs_csrf(partner_client, db, made):
    assert (
        partner_client.post("/byop/log", data={"channel": "copy", "submission": made.id}).status_code == 400
    )
    assert shares(db) == []


def test_logging_another_partners_submission_answers_404(client, db, made, make_partner):
    sign_in(client, make_partner("o@example.com"))
    assert log(client, made, "copy").status_code == 404
    assert shares(db) == []


def test_the_share_log_partial_lists_the_partners_own_shares(
    partner_client, db, made, make_partner, make_submission
):
    log(partner_client, made, "copy")
    partial = partner_client.get("/share/log", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.count('data-channel="copy"') == 1
    assert "Trois outils IA" in partial


def test_the_share_log_without_htmx_is_a_page_around_the_same_partial(partner_client, db, made):
    log(partner_client, made, "copy")
    response = partner_client.get("/share/log")
    page = response.get_data(as_text=True)
    assert "<html" in page and '<section id="sharekit-log"' in page
    assert page.count('data-channel="copy"') == 1
    assert "HX-Request" in response.headers["Vary"]


def test_the_share_log_shows_no_other_partners_shares(partner_client, db, made, make_partner):
    log(partner_client, made, "copy")
    other = partner_client.application.test_client()
    sign_in(other, make_partner("o@example.com", locale="en"))
    page = other.get("/share/log", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "data-channel=" not in page and "Trois outils IA" not in page


@pytest.mark.parametrize("is_on", [True, False], ids=["sharekit-on", "sharekit-off"])
def test_the_publish_queue_links_a_posted_asset_to_its_kit(make_app, db, partner, made, make_account, is_on):
    from contentflow.models import Assignment

    account = make_account(partner, "reddit")
    links.get_or_create_link(partner.id, made.asset_id)  # what posting does
    db.session.add(
        Assignment(
            asset_id=made.asset_id,
            partner_id=partner.id,
            platform="reddit",
            partner_account_id=account.id,
            status="posted",
        )
    )
    db.session.commit()
    client = make_app(FEATURE_SHAREKIT=is_on).test_client()
    sign_in(client, partner)
    page = client.get("/publish/queue").get_data(as_text=True)
    assert (f'href="/share/{made.asset_id}"' in page) is is_on


def test_sharekit_off_removes_the_kit_its_log_and_e_mail_but_not_byop(make_app, db, partner, made):
    links.get_or_create_link(partner.id, made.asset_id)
    db.session.commit()
    client = make_app(FEATURE_SHAREKIT=False).test_client()
    sign_in(client, partner)
    for path in (f"/byop/kit?id={made.id}", f"/share/{made.asset_id}", "/share/log"):
        assert client.get(path).status_code == 404, path
    token = csrf_token_of(client, "/byop/new")
    data = {"channel": "copy", "submission": made.id, "csrf_token": token}
    for path in ("/byop/log", "/byop/email", "/share/log", "/share/email"):
        assert client.post(path, data=data).status_code == 404, path
    assert shares(db) == []
    listing = client.get("/byop/submissions").get_data(as_text=True)
    assert "Trois outils IA" in listing and "/byop/kit" not in listing
    assert 'id="sharekit-portal"' not in client.get("/partner/portal").get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [
        ("GET", "/share/{asset}", {}),
        ("POST", "/share/log", {"channel": "copy", "asset": "{asset}"}),
        ("POST", "/share/email", {"emails": "ann@example.com", "consent": "y", "asset": "{asset}"}),
        ("POST", "/byop/log", {"channel": "copy", "submission": "{submission}"}),
        ("POST", "/byop/email", {"emails": "ann@example.com", "consent": "y", "submission": "{submission}"}),
    ],
    ids=["kit", "share-log", "share-email", "byop-log", "byop-email"],
)
def test_another_partners_asset_or_post_answers_404_and_writes_nothing(
    client, db, made, partner, make_partner, method, path, fields
):
    from contentflow.models import OutboxMessage

    links.get_or_create_link(partner.id, made.asset_id)  # the owner has a link; the visitor has none
    db.session.commit()
    sign_in(client, make_partner("o@example.com", locale="en"))
    names = {"asset": made.asset_id, "submission": made.id}
    data = {key: value.format(**names) for key, value in fields.items()}
    data["csrf_token"] = csrf_token_of(client, "/partner/portal")
    response = client.open(path.format(**names), method=method, data=data if method == "POST" else None)
    assert response.status_code == 404
    assert "Trois outils IA" not in response.get_data(as_text=True)
    assert shares(db) == []
    assert db.session.scalars(select(OutboxMessage)).all() == []
