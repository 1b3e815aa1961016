"""Admin asset pages: the list with ingestion statuses (polling while any is in progress), creation from a
URL or by upload (both ingested by the ingest job), and quarantine (links then answer 410)."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from contentflow.jobs import ingest_asset
from contentflow.models import Asset, AuditLog
from contentflow.queueing import get_queue
from contentflow.services import links
from contentflow.services.click_capture import capture_of
from tests.conftest import csrf_token_of, sign_in

HTMX = {"HX-Request": "true"}
SOURCE = "https://cdn.example.net/clip.mp4"
POSTS = [
    ("/admin/assets", {"title": "Clip", "source_url": SOURCE}),
    ("/admin/assets/{asset}/quarantine", {"reason": "DMCA notice 42"}),
]


@pytest.fixture
def assets_app(make_app, tmp_path):
    """An app with its own media folder, a 1 MB upload limit and the test server's host allowed."""
    return make_app(MEDIA_ROOT=str(tmp_path / "media"), INGEST_MAX_MB=1, INGEST_ALLOW_PRIVATE_HOSTS=True)


@pytest.fixture
def client(assets_app):
    return assets_app.test_client()


@pytest.fixture
def asset(db, make_asset, make_offer):
    return make_asset(title="Ready clip", offer=make_offer())


def admin_post(client, path: str, data: dict, headers=None):
    token = csrf_token_of(client, "/admin/assets")
    return client.post(path, data={**data, "csrf_token": token}, headers=headers or {})


def admin_upload(client, data: dict, content: bytes, headers=None, filename: str = "clip.mp4"):
    """POST the asset form with a file, as a browser's multipart body (built in memory: the test client
    would spool a large one to a temporary file it never closes)."""
    upload = FileStorage(io.BytesIO(content), filename=filename, content_type="video/mp4")
    fields = {**data, "file": upload, "csrf_token": csrf_token_of(client, "/admin/assets")}
    boundary, body = encode_multipart(fields)
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post("/admin/assets", data=body, content_type=content_type, headers=headers or {})


def count_assets(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Asset))


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def queued_ingestions(app) -> list[tuple]:
    return [job.args for job in get_queue("ingest", app).jobs]


# --- access -------------------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_admin_sign_in(client, db):
    response = client.get("/admin/assets")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_anonymous_post_is_sent_to_admin_sign_in_and_changes_nothing(client, db, asset, path, data):
    token = csrf_token_of(client, "/admin/login")
    response = client.post(path.format(asset=asset.id), data={**data, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")
    assert count_assets(db) == 1 and db.session.get(Asset, asset.id).status == "ready"


def test_partner_gets_403_on_the_assets_page(client, partner):
    sign_in(client, partner)
    assert client.get("/admin/assets").status_code == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_partner_gets_403_on_asset_actions(client, partner, asset, db, path, data):
    sign_in(client, partner)
    token = csrf_token_of(client, "/partner/portal")
    response = client.post(path.format(asset=asset.id), data={**data, "csrf_token": token})
    assert response.status_code == 403
    assert count_assets(db) == 1 and db.session.get(Asset, asset.id).status == "ready"


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_admin_action_without_csrf_token_answers_400_and_changes_nothing(
    client, admin, asset, db, path, data
):
    sign_in(client, admin)
    response = client.post(path.format(asset=asset.id), data=data)
    assert response.status_code == 400
    assert count_assets(db) == 1 and db.session.get(Asset, asset.id).status == "ready"
    assert audit_actions(db) == []


def test_admin_menu_lists_the_assets_page(admin_client):
    assert 'href="/admin/assets"' in admin_client.get("/admin/").text


# --- the list -----------------------------------------------------------------------------------------------


def test_list_shows_every_status_newest_first(admin_client, db, make_asset):
    for title, status, error in [
        ("First", "ready", None),
        ("Second", "failed", "the source answered HTTP 404"),
        ("Third", "processing", None),
        ("Fourth", "quarantined", "DMCA notice 7"),
    ]:
        made = make_asset(title=title)
        made.status, made.error = status, error
        db.session.commit()
    page = admin_client.get("/admin/assets").text
    assert page.index("Fourth") < page.index("Third") < page.index("Second") < page.index("First")
    for text in ("failed: the source answered HTTP 404", "ingesting", "quarantined", "DMCA notice 7"):
        assert text in page


def test_page_and_htmx_poll_while_an_asset_is_in_progress(admin_client, make_asset):
    make_asset(title="Coming", source_url=SOURCE)
    page = admin_client.get("/admin/assets")
    partial = admin_client.get("/admin/assets", headers=HTMX)
    assert page.status_code == partial.status_code == 200
    assert "<html" in page.text and "<html" not in partial.text
    assert re.match(r'\s*<section id="admin-asset-list"', partial.text)
    assert 'hx-trigger="every 2s"' in page.text and 'hx-trigger="every 2s"' in partial.text
    assert "HX-Request" in partial.headers["Vary"]


def test_polling_stops_with_286_once_nothing_is_in_progress(admin_client, asset):
    page = admin_client.get("/admin/assets")
    partial = admin_client.get("/admin/assets", headers=HTMX)
    assert (page.status_code, partial.status_code) == (200, 286)
    assert "Ready clip" in partial.text
    assert "hx-trigger" not in partial.text and "hx-trigger" not in page.text


def test_boosted_request_gets_the_whole_page(admin_client, asset):
    response = admin_client.get("/admin/assets", headers={**HTMX, "HX-Boosted": "true"})
    assert response.status_code == 200 and "<html" in response.text


# --- creation from a URL ------------------------------------------------------------------------------------


def test_create_from_url_answers_303_and_enqueues_the_ingestion(client, admin, db, assets_app, make_offer):
    offer = make_offer()
    sign_in(client, admin)
    data = {"title": "Clip", "source_url": SOURCE, "offer": str(offer.id)}
    response = admin_post(client, "/admin/assets", data)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/assets"
    [asset] = db.session.scalars(select(Asset)).all()
    assert (asset.title, asset.source_url, asset.status, asset.offer_id) == ("Clip", SOURCE, "new", offer.id)
    assert queued_ingestions(assets_app) == [(asset.id,)]
    entry = db.session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.admin_user_id) == ("asset.create", admin.id)
    assert "Asset Clip created." in client.get("/admin/assets").text


def test_create_from_url_with_htmx_answers_the_partial_that_polls(client, admin, db, assets_app):
    sign_in(client, admin)
    response = admin_post(client, "/admin/assets", {"title": "Clip", "source_url": SOURCE}, HTMX)
    assert response.status_code == 200
    assert re.match(r'\s*<div id="admin-assets"', response.text)
    assert "Asset Clip created." in response.text and 'hx-trigger="every 2s"' in response.text
    assert len(queued_ingestions(assets_app)) == 1


def test_create_without_source_makes_a_link_only_asset(client, admin, db, assets_app):
    sign_in(client, admin)
    assert admin_post(client, "/admin/assets", {"title": "Link only"}).status_code == 303
    assert db.session.scalars(select(Asset.status)).all() == ["ready"]
    assert queued_ingestions(assets_app) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "", "source_url": SOURCE}, "This field is required."),
        (
            {"title": "Clip", "source_url": "ftp://cdn.example.net/v.mp4"},
            "The source URL must be an absolute",
        ),
        ({"title": "Clip", "offer": "999"}, "Not a valid choice"),
    ],
)
def test_bad_new_asset_re_renders_the_form_with_400(client, admin, db, assets_app, data, message):
    sign_in(client, admin)
    for headers in ({}, HTMX):
        response = admin_post(client, "/admin/assets", data, headers)
        assert response.status_code == 400
        assert message in response.text
    assert count_assets(db) == 0
    assert queued_ingestions(assets_app) == []


# --- creation by upload -------------------------------------------------------------------------------------


def test_uploaded_video_is_stored_and_ingested_by_the_job(client, admin, db, assets_app, video, tmp_path):
    sign_in(client, admin)
    response = admin_upload(client, {"title": "Upload"}, video.read_bytes())
    assert response.status_code == 303
    [asset] = db.session.scalars(select(Asset)).all()
    assert (tmp_path / "media" / asset.media_path).read_bytes() == video.read_bytes()
    assert queued_ingestions(assets_app) == [(asset.id,)]

    with assets_app.app_context():
        assert ingest_asset(asset.id) == f"asset {asset.id}: ready"
    db.session.expire_all()
    assert (db.session.get(Asset, asset.id).width, db.session.get(Asset, asset.id).height) == (320, 240)


def test_upload_with_htmx_answers_the_partial(client, admin, db, video):
    sign_in(client, admin)
    response = admin_upload(client, {"title": "Upload"}, video.read_bytes(), HTMX)
    assert response.status_code == 200
    assert "Asset Upload created." in response.text and "Upload" in response.text


def test_upload_over_the_limit_answers_400_and_stores_nothing(client, admin, db, assets_app, tmp_path):
    sign_in(client, admin)
    response = admin_upload(client, {"title": "Big"}, b"\x00" * (1024 * 1024 + 1))
    assert response.status_code == 400
    assert "The file is larger than 1 MB." in response.text
    assert count_assets(db) == 0 and queued_ingestions(assets_app) == []
    assert [path for path in (tmp_path / "media").rglob("*") if path.is_file()] == []


def test_request_far_over_the_limit_is_refused_with_413(client, admin, db):
    sign_in(client, admin)
    response = admin_upload(client, {"title": "Huge"}, b"\x00" * (3 * 1024 * 1024))
    assert response.status_code == 413
    assert count_assets(db) == 0


def test_url_and_file_together_are_refused(client, admin, db, video):
    sign_in(client, admin)
    response = admin_upload(client, {"title": "Both", "source_url": SOURCE}, b"x")
    assert response.status_code == 400
    assert "Give a source URL or a file, not both." in response.text
    assert count_assets(db) == 0


# --- quarantine ---------------------------------------------------------------------------------------------


def test_quarantine_answers_303_records_the_reason_and_links_answer_410(
    assets_app, client, admin, db, asset, partner, redis
):
    code = links.get_or_create_link(partner.id, asset.id).code
    db.session.commit()
    assert client.get(f"/l/{code}").status_code == 302
    sign_in(client, admin)

    response = admin_post(client, f"/admin/assets/{asset.id}/quarantine", {"reason": "DMCA notice 42"})

    assert response.status_code == 303
    db.session.expire_all()
    quarantined = db.session.get(Asset, asset.id)
    assert (quarantined.status, quarantined.error) == ("quarantined", "DMCA notice 42")
    entry = db.session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.admin_user_id, entry.details["reason"]) == (
        "asset.quarantine",
        admin.id,
        "DMCA notice 42",
    )
    capture_of(assets_app).links.clear()  # what the end of the link cache's few seconds does
    assert client.get(f"/l/{code}").status_code == 410


def test_quarantine_with_htmx_answers_the_partial(client, admin, db, asset):
    sign_in(client, admin)
    response = admin_post(client, f"/admin/assets/{asset.id}/quarantine", {"reason": "DMCA"}, HTMX)
    assert response.status_code == 200
    assert re.match(r'\s*<div id="admin-assets"', response.text)
    assert "is quarantined: its links answer 410 Gone." in response.text


def test_quarantine_without_reason_answers_400_and_changes_nothing(client, admin, db, asset):
    sign_in(client, admin)
    for headers in ({}, HTMX):
        response = admin_post(client, f"/admin/assets/{asset.id}/quarantine", {"reason": "  "}, headers)
        assert response.status_code == 400
        assert "Say why the asset is taken down" in response.text
    assert db.session.get(Asset, asset.id).status == "ready"
    assert audit_actions(db) == []


def test_quarantining_an_unknown_asset_answers_404(client, admin, db):
    sign_in(client, admin)
    assert admin_post(client, "/admin/assets/nosuchasst/quarantine", {"reason": "DMCA"}).status_code == 404


def test_quarantining_twice_keeps_the_first_reason(client, admin, db, asset):
    sign_in(client, admin)
    admin_post(client, f"/admin/assets/{asset.id}/quarantine", {"reason": "first"})
    assert admin_post(client, f"/admin/assets/{asset.id}/quarantine", {"reason": "second"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Asset, asset.id).error == "first"
    assert audit_actions(db) == ["asset.quarantine"]
