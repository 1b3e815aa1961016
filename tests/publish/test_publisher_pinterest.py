"""The Pinterest publisher against a stand-in API v5 (and a stand-in S3 upload form) over real local HTTP:
the exact requests of boards, media upload, processing and pin creation, and how the answers become
publish errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from plugins.publish.platforms import Platform, get_platform
from plugins.publish.publishers import pinterest
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    TransientError,
)

TOKEN = "pina_test-access-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
VIDEO = b"\x00\x00\x00\x18ftypmp42 a tiny stand-in video"
LINK = "https://cf.example.org/l/abc123"
COVER = "https://cf.example.org/media/covers/abc.jpg"
TEXT = f"A tool that writes for you.\n\nTry it {LINK}\n\n#ia #tools #ad"
UPLOAD_FIELDS = {
    "x-amz-date": "20261203T154547Z",
    "x-amz-signature": "sig",
    "x-amz-security-token": "sts",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "key": "uploads/17/4d/be/2:video:70410986",
    "policy": "policy-document",
    "x-amz-credential": "cred",
    "Content-Type": "multipart/form-data",
}


@pytest.fixture
def platform(make_app, httpserver: HTTPServer) -> Iterator[Platform]:
    app = make_app(PINTEREST_API_BASE_URL=httpserver.url_for("").rstrip("/"))
    with app.app_context():
        yield get_platform("pinterest")


@pytest.fixture
def account() -> Account:
    return Account("pinterest", TOKEN, "549755885175", "pat")


@pytest.fixture
def post(tmp_path: Path) -> Post:
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEO)
    return Post(
        assignment_id=7,
        title="Write faster with AI",
        text=TEXT,
        link=LINK,
        tags=("ia", "tools", "ad"),
        marker="cf7deadbeef",
        media_path=video,
        media_type="video/mp4",
        media_size=len(VIDEO),
        cover_url=COVER,
        target="board-1",
    )


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The seconds the publisher paused for while Pinterest processed a video (no real sleeping)."""
    seconds: list[float] = []
    monkeypatch.setattr(pinterest, "pause", seconds.append)
    return seconds


def expect_video_upload(httpserver: HTTPServer, *statuses: str) -> None:
    """Media registration, the storage upload, then one processing status per look."""
    httpserver.expect_ordered_request("/v5/media", method="POST").respond_with_json(
        {
            "media_id": "12345",
            "media_type": "video",
            "upload_url": httpserver.url_for("/s3-upload"),
            "upload_parameters": UPLOAD_FIELDS,
        },
        status=201,
    )
    httpserver.expect_ordered_request("/s3-upload", method="POST").respond_with_data("", status=204)
    for status in statuses:
        httpserver.expect_ordered_request("/v5/media/12345", method="GET", headers=BEARER).respond_with_json(
            {"media_id": "12345", "media_type": "video", "status": status}
        )


def expect_pin(httpserver: HTTPServer) -> None:
    """After the video steps, the pin-creating request succeeds."""
    httpserver.expect_ordered_request("/v5/pins", method="POST").respond_with_json(
        {"id": "813744"}, status=201
    )


def sent_pin(httpserver: HTTPServer) -> dict[str, Any]:
    """The JSON of the pin-creating request."""
    return next(request.get_json() for request, _ in httpserver.log if request.path == "/v5/pins")


def paths_requested(httpserver: HTTPServer) -> list[str]:
    return [f"{request.method} {request.path}" for request, _ in httpserver.log]


# --- identify and boards -----------------------------------------------------------------------------


def test_identify_returns_user_id_and_username(httpserver, platform):
    httpserver.expect_ordered_request("/v5/user_account", method="GET", headers=BEARER).respond_with_json(
        {"account_type": "BUSINESS", "id": "549755885175", "username": "pat"}
    )

    assert pinterest.identify(platform, TOKEN) == ("549755885175", "pat")
    httpserver.check_assertions()


def test_identify_without_an_id_uses_the_username(httpserver, platform):
    httpserver.expect_request("/v5/user_account").respond_with_json({"username": "pat"})

    assert pinterest.identify(platform, TOKEN) == ("pat", "pat")


def test_list_targets_follows_the_bookmark(httpserver, platform, account):
    httpserver.expect_ordered_request(
        "/v5/boards", method="GET", query_string={"page_size": "100"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "b1", "name": "Tools"}], "bookmark": "next-page"})
    httpserver.expect_ordered_request(
        "/v5/boards", method="GET", query_string={"page_size": "100", "bookmark": "next-page"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "b2", "name": "AI"}], "bookmark": None})

    assert pinterest.list_targets(account, platform) == [("b1", "Tools"), ("b2", "AI")]
    httpserver.check_assertions()


def test_list_targets_stops_after_a_bounded_number_of_pages(httpserver, platform, account):
    httpserver.expect_request("/v5/boards").respond_with_json(
        {"items": [{"id": "b", "name": "Again"}], "bookmark": "always-more"}
    )

    boards = pinterest.list_targets(account, platform)

    assert len(boards) == pinterest.MAX_PAGES
    assert len(httpserver.log) == pinterest.MAX_PAGES


# --- publish: the video pin --------------------------------------------------------------------------


def test_publish_video_registers_uploads_waits_then_pins(httpserver, platform, account, post, pauses):
    expect_video_upload(httpserver, "succeeded")
    httpserver.expect_ordered_request(
        "/v5/pins",
        method="POST",
        headers=BEARER,
        json={
            "board_id": "board-1",
            "title": "Write faster with AI",
            "description": TEXT,
            "link": LINK,
            "media_source": {"source_type": "video_id", "media_id": "12345", "cover_image_url": COVER},
        },
    ).respond_with_json({"id": "813744", "board_id": "board-1"}, status=201)

    published = pinterest.publish(post, account, platform)

    assert published == Published("813744", "https://www.pinterest.com/pin/813744/")
    httpserver.check_assertions()
    register, _ = httpserver.log[0]
    assert register.get_json() == {"media_type": "video"}
    assert register.headers["Authorization"] == f"Bearer {TOKEN}"
    assert pauses == []


def test_publish_uploads_the_file_as_the_storage_form_wants_without_the_token(
    httpserver, platform, account, post, pauses
):
    expect_video_upload(httpserver, "succeeded")
    expect_pin(httpserver)

    pinterest.publish(post, account, platform)

    upload, _ = httpserver.log[1]
    with upload:  # closes the parsed file's temporary storage
        assert "Authorization" not in upload.headers
        assert upload.mimetype == "multipart/form-data"
        assert upload.form.to_dict() == UPLOAD_FIELDS
        assert upload.files["file"].filename == "clip.mp4"
        assert upload.files["file"].read() == VIDEO


def test_publish_the_file_is_the_last_field_of_the_upload_form(httpserver, platform, account, post, pauses):
    expect_video_upload(httpserver, "succeeded")
    expect_pin(httpserver)

    pinterest.publish(post, account, platform)

    upload, _ = httpserver.log[1]
    body = upload.get_data()
    # S3 ignores the fields that come after the file.
    assert body.rindex(b'name="file"') > max(body.index(f'name="{name}"'.encode()) for name in UPLOAD_FIELDS)


def test_publish_polls_the_media_until_it_is_processed(httpserver, platform, account, post, pauses):
    expect_video_upload(httpserver, "registered", "processing", "succeeded")
    expect_pin(httpserver)

    pinterest.publish(post, account, platform)

    assert pauses == [pinterest.POLL_SECONDS, pinterest.POLL_SECONDS]
    httpserver.check_assertions()


def test_publish_video_processing_failed_is_permanent_and_makes_no_pin(
    httpserver, platform, account, post, pauses
):
    expect_video_upload(httpserver, "processing", "failed")

    with pytest.raises(PermanentError, match="could not process the video"):
        pinterest.publish(post, account, platform)
    assert "POST /v5/pins" not in paths_requested(httpserver)


def test_publish_video_still_processing_after_a_minute_is_transient_and_makes_no_pin(
    httpserver, platform, account, post, pauses
):
    expect_video_upload(httpserver)
    httpserver.expect_request("/v5/media/12345", method="GET").respond_with_json({"status": "processing"})

    with pytest.raises(TransientError, match="still processing the video") as caught:
        pinterest.publish(post, account, platform)
    assert caught.value.maybe_posted is False
    assert 0 < sum(pauses) <= 60
    assert "POST /v5/pins" not in paths_requested(httpserver)


def test_publish_video_without_a_cover_uses_its_first_frame(httpserver, platform, account, post, pauses):
    expect_video_upload(httpserver, "succeeded")
    expect_pin(httpserver)

    pinterest.publish(replace(post, cover_url=None), account, platform)

    assert sent_pin(httpserver)["media_source"] == {
        "source_type": "video_id",
        "media_id": "12345",
        "cover_image_key_frame_time": 0,
    }


def test_publish_storage_refusal_is_permanent_not_an_auth_error(httpserver, platform, account, post, pauses):
    httpserver.expect_request("/v5/media", method="POST").respond_with_json(
        {
            "media_id": "12345",
            "upload_url": httpserver.url_for("/s3-upload"),
            "upload_parameters": UPLOAD_FIELDS,
        }
    )
    httpserver.expect_request("/s3-upload", method="POST").respond_with_data(
        "<Error><Code>AccessDenied</Code></Error>", status=403, content_type="application/xml"
    )

    with pytest.raises(PermanentError, match="AccessDenied"):
        pinterest.publish(post, account, platform)


# --- publish: image pins, boards, limits ------------------------------------------------------------


def test_publish_without_video_makes_an_image_pin_from_the_cover(httpserver, platform, account, post):
    httpserver.expect_ordered_request(
        "/v5/pins",
        method="POST",
        headers=BEARER,
        json={
            "board_id": "board-1",
            "title": "Write faster with AI",
            "description": TEXT,
            "link": LINK,
            "media_source": {"source_type": "image_url", "url": COVER},
        },
    ).respond_with_json({"id": "900"}, status=201)

    published = pinterest.publish(replace(post, media_path=None), account, platform)

    assert published == Published("900", "https://www.pinterest.com/pin/900/")
    httpserver.check_assertions()


def test_publish_without_video_or_image_is_permanent_and_sends_nothing(httpserver, platform, account, post):
    with pytest.raises(PermanentError, match="needs a video or an image"):
        pinterest.publish(replace(post, media_path=None, cover_url=None), account, platform)
    assert httpserver.log == []


def test_publish_without_a_target_uses_the_first_board(httpserver, platform, account, post):
    httpserver.expect_ordered_request(
        "/v5/boards", method="GET", query_string={"page_size": "100"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "first", "name": "Tools"}, {"id": "second", "name": "AI"}]})
    httpserver.expect_ordered_request("/v5/pins", method="POST").respond_with_json({"id": "900"}, status=201)

    pinterest.publish(replace(post, media_path=None, target=None), account, platform)

    assert sent_pin(httpserver)["board_id"] == "first"


def test_publish_without_any_board_is_permanent(httpserver, platform, account, post):
    httpserver.expect_request("/v5/boards").respond_with_json({"items": [], "bookmark": None})

    with pytest.raises(PermanentError, match="create a Pinterest board first"):
        pinterest.publish(replace(post, media_path=None, target=None), account, platform)


def test_publish_cuts_title_and_description_keeping_link_and_disclosure(httpserver, platform, account, post):
    tail = f"Try it {LINK}\n\n#ia #tools #ad"
    httpserver.expect_request("/v5/pins", method="POST").respond_with_json({"id": "900"}, status=201)

    long_post = replace(post, media_path=None, title="t" * 150, text=f"{'d' * 900}\n\n{tail}")
    pinterest.publish(long_post, account, platform)

    pin = sent_pin(httpserver)
    assert pin["title"] == "t" * 100
    assert len(pin["description"]) <= 500
    assert pin["description"].endswith(f"…\n{tail}")


# --- publish: Pinterest's refusals -------------------------------------------------------------------


def test_publish_401_is_an_auth_error(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_json(
        {"code": 2, "message": "Authentication failed."}, status=401
    )

    with pytest.raises(AuthError, match="Authentication failed"):
        pinterest.publish(replace(post, media_path=None), account, platform)


def test_publish_403_is_permanent_not_an_auth_error(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_json(
        {"code": 29, "message": "You are not permitted to access that resource."}, status=403
    )

    with pytest.raises(PermanentError, match="not permitted"):
        pinterest.publish(replace(post, media_path=None), account, platform)


def test_publish_429_carries_retry_after(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_json(
        {"code": 8, "message": "Rate limit exceeded."}, status=429, headers={"Retry-After": "90"}
    )

    with pytest.raises(TransientError) as caught:
        pinterest.publish(replace(post, media_path=None), account, platform)
    assert caught.value.retry_after == 90
    assert caught.value.maybe_posted is False


def test_publish_400_is_permanent_with_pinterest_message(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_json(
        {"code": 1, "message": "Invalid board_id"}, status=400
    )

    with pytest.raises(PermanentError, match="Invalid board_id"):
        pinterest.publish(replace(post, media_path=None), account, platform)


def test_publish_500_on_pin_creation_may_have_posted(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as caught:
        pinterest.publish(replace(post, media_path=None), account, platform)
    assert caught.value.maybe_posted is True


def test_publish_500_on_media_registration_has_not_posted(httpserver, platform, account, post):
    httpserver.expect_request("/v5/media", method="POST").respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as caught:
        pinterest.publish(post, account, platform)
    assert caught.value.maybe_posted is False


def test_publish_malformed_json_from_pin_creation_may_have_posted(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="POST").respond_with_data(
        "{truncated", status=201, content_type="application/json"
    )

    with pytest.raises(TransientError, match="not readable") as caught:
        pinterest.publish(replace(post, media_path=None), account, platform)
    assert caught.value.maybe_posted is True


def test_publish_malformed_media_registration_is_permanent(httpserver, platform, account, post):
    httpserver.expect_request("/v5/media", method="POST").respond_with_json({"media_id": "12345"})

    with pytest.raises(PermanentError, match="not understood"):
        pinterest.publish(post, account, platform)


# --- find --------------------------------------------------------------------------------------------


def test_find_returns_the_pin_linking_to_the_short_link_across_pages(httpserver, platform, account, post):
    httpserver.expect_ordered_request(
        "/v5/pins", method="GET", query_string={"page_size": "100"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "1", "link": "https://cf.example.org/l/other"}], "bookmark": "p2"})
    httpserver.expect_ordered_request(
        "/v5/pins", method="GET", query_string={"page_size": "100", "bookmark": "p2"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "2", "link": LINK}], "bookmark": "p3"})

    assert pinterest.find(post, account, platform) == Published("2", "https://www.pinterest.com/pin/2/")
    httpserver.check_assertions()


def test_find_returns_none_when_no_pin_links_to_the_short_link(httpserver, platform, account, post):
    httpserver.expect_request("/v5/pins", method="GET").respond_with_json(
        {"items": [{"id": "1", "link": "https://cf.example.org/l/other"}, {"id": "3", "link": None}]}
    )

    assert pinterest.find(post, account, platform) is None
