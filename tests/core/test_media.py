"""``/media/<asset_id>/<video|cover>``: an asset's files behind a signed, expiring token in the URL
(``media.public_url``); anything else answers the same 404."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner

from contentflow.services import media

BASE = "https://cf.example.org"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"v" * 2000
COVER = b"\xff\xd8\xff\xe0" + b"c" * 100


@pytest.fixture
def media_app(make_app, tmp_path):
    return make_app(MEDIA_ROOT=str(tmp_path / "media"))


@pytest.fixture
def ready_asset(db, make_asset, tmp_path):
    """A ready asset whose video and cover are on disk (as ingestion leaves them)."""
    asset = make_asset(title="Clip")
    folder = tmp_path / "media" / asset.id
    folder.mkdir(parents=True)
    (folder / "source.mp4").write_bytes(VIDEO)
    (folder / "cover.jpg").write_bytes(COVER)
    asset.media_path, asset.cover_path, asset.mime_type = (
        f"{asset.id}/source.mp4",
        f"{asset.id}/cover.jpg",
        "video/mp4",
    )
    db.session.commit()
    return asset


def url_of(app, asset, kind: str) -> str:
    with app.app_context():
        return media.public_url(asset, kind)


def local(url: str) -> str:
    assert url.startswith(BASE + "/media/"), url
    return url.removeprefix(BASE)


def test_public_url_is_absolute_from_the_public_base_url(media_app, ready_asset):
    url = url_of(media_app, ready_asset, "video")
    assert url.startswith(f"{BASE}/media/{ready_asset.id}/video?token=")


@pytest.mark.parametrize(
    ("kind", "body", "mimetype"), [("video", VIDEO, "video/mp4"), ("cover", COVER, "image/jpeg")]
)
def test_signed_url_serves_the_file(media_app, ready_asset, kind, body, mimetype):
    response = get(media_app, local(url_of(media_app, ready_asset, kind)))
    assert response.status_code == 200
    assert (response.data, response.mimetype) == (body, mimetype)


def test_signed_url_answers_range_requests(media_app, ready_asset):
    response = get(media_app, local(url_of(media_app, ready_asset, "video")), headers={"Range": "bytes=0-9"})
    assert (response.status_code, response.data) == (206, VIDEO[:10])


def test_signed_url_answers_conditional_requests(media_app, ready_asset):
    path = local(url_of(media_app, ready_asset, "video"))
    etag = get(media_app, path).headers["ETag"]
    assert get(media_app, path, headers={"If-None-Match": etag}).status_code == 304


def get(app, path: str, **kwargs):
    """GET ``path``; the response is read and closed (its file handle with it)."""
    with app.test_client().get(path, **kwargs) as response:
        response.get_data()
        return response


def tampered(url: str) -> str:
    head, token = url.split("token=")
    return f"{head}token={token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}"


@pytest.mark.parametrize(
    "bad_path",
    [
        lambda asset, url: local(tampered(url)),
        lambda asset, url: local(url).split("?")[0],
        lambda asset, url: local(url).replace("/video?", "/cover?"),
        lambda asset, url: f"/media/{asset.id}/video?token=not-a-token",
    ],
    ids=["tampered", "no-token", "token-of-the-other-kind", "garbage"],
)
def test_bad_token_answers_404(media_app, ready_asset, bad_path):
    url = url_of(media_app, ready_asset, "video")
    assert get(media_app, bad_path(ready_asset, url)).status_code == 404


def test_token_of_another_asset_answers_404(media_app, ready_asset, make_asset, db):
    other = make_asset(title="Other")
    token = url_of(media_app, other, "video").split("token=")[1]
    response = get(media_app, f"/media/{ready_asset.id}/video?token={token}")
    assert response.status_code == 404


def test_token_signed_with_another_key_answers_404(make_app, tmp_path, ready_asset):
    other_key = make_app(MEDIA_ROOT=str(tmp_path / "media"), SECRET_KEY="another-secret-key-0123456789ab")
    media_app = make_app(MEDIA_ROOT=str(tmp_path / "media"))
    response = get(media_app, local(url_of(other_key, ready_asset, "video")))
    assert response.status_code == 404


def test_expired_token_answers_404(media_app, ready_asset, monkeypatch):
    day_and_a_bit_ago = int(time.time()) - 25 * 3600
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: day_and_a_bit_ago)
        url = url_of(media_app, ready_asset, "video")
    assert get(media_app, local(url)).status_code == 404


def test_token_of_almost_a_day_still_works(media_app, ready_asset, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 23 * 3600)
        url = url_of(media_app, ready_asset, "video")
    assert get(media_app, local(url)).status_code == 200


@pytest.mark.parametrize("status", ["quarantined", "failed", "new", "processing"])
def test_asset_that_is_not_ready_is_not_served(db, media_app, ready_asset, status):
    url = url_of(media_app, ready_asset, "video")
    ready_asset.status = status
    db.session.commit()
    assert get(media_app, local(url)).status_code == 404


def test_missing_file_answers_404(db, media_app, ready_asset, tmp_path):
    url = url_of(media_app, ready_asset, "cover")
    (tmp_path / "media" / ready_asset.cover_path).unlink()
    assert get(media_app, local(url)).status_code == 404


def test_stored_path_outside_the_media_folder_is_never_served(db, media_app, ready_asset, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    ready_asset.media_path = "../secret.txt"
    db.session.commit()
    response = get(media_app, local(url_of(media_app, ready_asset, "video")))
    assert response.status_code == 404


def test_unknown_kind_has_no_url(media_app, ready_asset):
    with pytest.raises(ValueError, match="unknown media kind"):
        url_of(media_app, ready_asset, "audio")
    assert get(media_app, f"/media/{ready_asset.id}/audio?token=x").status_code == 404


def test_media_folder_defaults_to_the_instance_folder(app):
    assert Path(app.config["MEDIA_ROOT"]) == Path(app.instance_path) / "media"
