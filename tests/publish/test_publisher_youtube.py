"""The YouTube publisher against a stand-in Data API v3 over real local HTTP: the exact requests of the
resumable upload and of the look-ups, and how Google's answers become publish errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from plugins.publish.platforms import Platform, get_platform
from plugins.publish.publishers import youtube
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    TransientError,
)

TOKEN = "ya29.test-access-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
VIDEO = b"\x00\x00\x00\x18ftypmp42 a tiny stand-in video"
LINK = "https://cf.example.org/l/abc123"
MARKER = "cf7deadbeef"
TEXT = f"A tool that writes for you.\n\nTry it {LINK}\n\n#ia #tools #ad"
UPLOADS = "/upload/youtube/v3/videos"
SESSION_QUERY = {"uploadType": "resumable", "upload_id": "session-1"}


@pytest.fixture
def platform(make_app, httpserver: HTTPServer) -> Iterator[Platform]:
    app = make_app(
        YOUTUBE_API_BASE_URL=httpserver.url_for("").rstrip("/"),
        YOUTUBE_UPLOAD_BASE_URL=httpserver.url_for("/upload"),
        YOUTUBE_PRIVACY_STATUS="unlisted",
    )
    with app.app_context():
        yield get_platform("youtube")


@pytest.fixture
def account() -> Account:
    return Account("youtube", TOKEN, "UCpat", "@pat")


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
        marker=MARKER,
        media_path=video,
        media_type="video/mp4",
        media_size=len(VIDEO),
    )


def google_error(status: int, reason: str, message: str = "Google refused it.") -> dict[str, Any]:
    """An error body in Google's format."""
    errors = [{"message": message, "domain": "youtube.test", "reason": reason}]
    return {"error": {"code": status, "message": message, "errors": errors}}


def expect_session(httpserver: HTTPServer) -> None:
    """The session-opening POST answers with a session URI on this server."""
    location = f"{httpserver.url_for(UPLOADS)}?uploadType=resumable&upload_id=session-1"
    httpserver.expect_request(UPLOADS, method="POST").respond_with_data("", headers={"Location": location})


def expect_upload(httpserver: HTTPServer, video_id: str = "vid123") -> None:
    """The whole upload succeeds and makes the video ``video_id``."""
    expect_session(httpserver)
    httpserver.expect_request(UPLOADS, method="PUT").respond_with_json({"id": video_id}, status=201)


def sent_snippet(httpserver: HTTPServer) -> dict[str, Any]:
    """The ``snippet`` the publisher sent when it opened the session."""
    request, _ = httpserver.log[0]
    return request.get_json()["snippet"]


# --- identify ----------------------------------------------------------------------------------------


def test_identify_returns_channel_id_and_custom_url(httpserver, platform):
    httpserver.expect_ordered_request(
        "/youtube/v3/channels", method="GET", query_string={"part": "snippet", "mine": "true"}, headers=BEARER
    ).respond_with_json({"items": [{"id": "UCpat", "snippet": {"title": "Pat", "customUrl": "@pat"}}]})

    assert youtube.identify(platform, TOKEN) == ("UCpat", "@pat")
    httpserver.check_assertions()


def test_identify_without_custom_url_uses_the_channel_title(httpserver, platform):
    httpserver.expect_request("/youtube/v3/channels").respond_with_json(
        {"items": [{"id": "UCpat", "snippet": {"title": "Pat's channel"}}]}
    )

    assert youtube.identify(platform, TOKEN) == ("UCpat", "Pat's channel")


def test_identify_without_a_channel_is_permanent(httpserver, platform):
    httpserver.expect_request("/youtube/v3/channels").respond_with_json(
        {"kind": "youtube#channelListResponse"}
    )

    with pytest.raises(PermanentError, match="no YouTube channel"):
        youtube.identify(platform, TOKEN)


def test_identify_with_malformed_json_is_permanent(httpserver, platform):
    httpserver.expect_request("/youtube/v3/channels").respond_with_data(
        "{not json", content_type="application/json"
    )

    with pytest.raises(PermanentError, match="not readable"):
        youtube.identify(platform, TOKEN)


# --- publish: the upload -----------------------------------------------------------------------------


def test_publish_opens_a_resumable_session_then_puts_the_file(httpserver, platform, account, post):
    location = f"{httpserver.url_for(UPLOADS)}?uploadType=resumable&upload_id=session-1"
    httpserver.expect_ordered_request(
        UPLOADS,
        method="POST",
        query_string={"uploadType": "resumable", "part": "snippet,status"},
        headers={
            **BEARER,
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Type": "video/mp4",
            "X-Upload-Content-Length": str(len(VIDEO)),
        },
        json={
            "snippet": {
                "title": "Write faster with AI",
                "description": TEXT,
                "tags": ["ia", "tools", "ad", MARKER],
                "categoryId": "22",
            },
            "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False},
        },
    ).respond_with_data("", headers={"Location": location})
    httpserver.expect_ordered_request(
        UPLOADS,
        method="PUT",
        query_string=SESSION_QUERY,
        headers={**BEARER, "Content-Type": "video/mp4", "Content-Length": str(len(VIDEO))},
        data=VIDEO,
    ).respond_with_json({"kind": "youtube#video", "id": "vid123"}, status=201)

    published = youtube.publish(post, account, platform)

    assert published == Published("vid123", "https://www.youtube.com/watch?v=vid123")
    httpserver.check_assertions()


def test_publish_a_link_only_asset_is_permanent_and_sends_nothing(httpserver, platform, account, post):
    with pytest.raises(PermanentError, match="YouTube needs a video"):
        youtube.publish(replace(post, media_path=None), account, platform)
    assert httpserver.log == []


def test_publish_with_the_video_file_gone_is_permanent_and_sends_nothing(httpserver, platform, account, post):
    post.media_path.unlink()

    with pytest.raises(PermanentError, match="video file is missing"):
        youtube.publish(post, account, platform)
    assert httpserver.log == []


def test_publish_title_is_cut_to_100_chars_without_angle_brackets(httpserver, platform, account, post):
    expect_upload(httpserver)

    youtube.publish(replace(post, title="<Best> tool " + "x" * 200), account, platform)

    title = sent_snippet(httpserver)["title"]
    assert len(title) == 100
    assert "<" not in title and ">" not in title
    assert title.startswith("\u2039Best\u203a tool x")


def test_publish_long_description_fits_5000_bytes_keeping_link_and_disclosure(
    httpserver, platform, account, post
):
    tail = f"Try it {LINK}\n\n#ia #tools #ad"
    expect_upload(httpserver)

    youtube.publish(replace(post, text=f"{'é' * 4000}\n\n{tail}"), account, platform)

    description = sent_snippet(httpserver)["description"]
    assert len(description.encode()) <= 5000
    assert description.startswith("éé")
    assert description.endswith(f"…\n{tail}")


def test_publish_tags_stay_within_500_chars_and_always_carry_the_marker(httpserver, platform, account, post):
    many = tuple(f"tag{number:03d}{'y' * 40}" for number in range(20))
    expect_upload(httpserver)

    youtube.publish(replace(post, tags=many), account, platform)

    tags = sent_snippet(httpserver)["tags"]
    assert tags[-1] == MARKER
    assert len(",".join(tags)) <= 500
    assert tags[:-1] == list(many[: len(tags) - 1])


def test_publish_without_location_is_transient_and_not_posted(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_data("")

    with pytest.raises(TransientError, match="no upload session") as caught:
        youtube.publish(post, account, platform)
    assert caught.value.maybe_posted is False


def test_publish_answer_without_video_id_may_have_posted(httpserver, platform, account, post):
    expect_session(httpserver)
    httpserver.expect_request(UPLOADS, method="PUT").respond_with_json({"kind": "youtube#video"})

    with pytest.raises(TransientError) as caught:
        youtube.publish(post, account, platform)
    assert caught.value.maybe_posted is True


# --- publish: Google's refusals ----------------------------------------------------------------------


def test_publish_401_is_an_auth_error(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(401, "authError", "Invalid Credentials"), status=401
    )

    with pytest.raises(AuthError, match="Invalid Credentials"):
        youtube.publish(post, account, platform)


def test_publish_403_insufficient_permissions_is_an_auth_error(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(403, "insufficientPermissions", "Insufficient Permission"), status=403
    )

    with pytest.raises(AuthError, match="Insufficient Permission"):
        youtube.publish(post, account, platform)


def test_publish_quota_exceeded_403_is_transient_until_the_quota_resets(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(403, "quotaExceeded", "You have exceeded your quota."), status=403
    )

    with pytest.raises(TransientError, match="quota") as caught:
        youtube.publish(post, account, platform)
    assert 0 < caught.value.retry_after <= 24 * 3600
    assert caught.value.maybe_posted is False


def test_publish_upload_limit_exceeded_waits_a_day(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(
            400, "uploadLimitExceeded", "The user has exceeded the number of videos they may upload."
        ),
        status=400,
    )

    with pytest.raises(TransientError, match="upload limit") as caught:
        youtube.publish(post, account, platform)
    assert caught.value.retry_after == 24 * 3600


def test_publish_rate_limit_403_honours_retry_after(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(403, "userRateLimitExceeded"), status=403, headers={"Retry-After": "30"}
    )

    with pytest.raises(TransientError, match="rate limited") as caught:
        youtube.publish(post, account, platform)
    assert caught.value.retry_after == 30


def test_publish_429_carries_retry_after(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )

    with pytest.raises(TransientError) as caught:
        youtube.publish(post, account, platform)
    assert caught.value.retry_after == 120


def test_publish_400_is_permanent_with_youtube_message(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_json(
        google_error(400, "invalidTitle", "The request metadata specifies an invalid video title."),
        status=400,
    )

    with pytest.raises(PermanentError, match="invalid video title"):
        youtube.publish(post, account, platform)


def test_publish_500_when_opening_the_session_has_not_posted(httpserver, platform, account, post):
    httpserver.expect_request(UPLOADS, method="POST").respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as caught:
        youtube.publish(post, account, platform)
    assert caught.value.maybe_posted is False


def test_publish_500_on_the_upload_may_have_posted(httpserver, platform, account, post):
    expect_session(httpserver)
    httpserver.expect_request(UPLOADS, method="PUT").respond_with_data("oops", status=503)

    with pytest.raises(TransientError) as caught:
        youtube.publish(post, account, platform)
    assert caught.value.maybe_posted is True


def test_publish_malformed_json_from_the_upload_may_have_posted(httpserver, platform, account, post):
    expect_session(httpserver)
    httpserver.expect_request(UPLOADS, method="PUT").respond_with_data(
        "<html>", status=201, content_type="application/json"
    )

    with pytest.raises(TransientError, match="not readable") as caught:
        youtube.publish(post, account, platform)
    assert caught.value.maybe_posted is True


def test_quota_reset_is_the_next_eight_oclock_utc():
    assert youtube._seconds_until_quota_reset(datetime(2025, 1, 6, 7, 0, tzinfo=UTC)) == 3600
    assert youtube._seconds_until_quota_reset(datetime(2025, 1, 6, 9, 0, tzinfo=UTC)) == 23 * 3600


# --- find --------------------------------------------------------------------------------------------


def expect_uploads_playlist(httpserver: HTTPServer, video_ids: list[str]) -> None:
    """The channel's uploads playlist holds ``video_ids``; the exact look-up requests are checked."""
    httpserver.expect_ordered_request(
        "/youtube/v3/channels",
        method="GET",
        query_string={"part": "contentDetails", "mine": "true"},
        headers=BEARER,
    ).respond_with_json(
        {"items": [{"id": "UCpat", "contentDetails": {"relatedPlaylists": {"uploads": "UUpat"}}}]}
    )
    httpserver.expect_ordered_request(
        "/youtube/v3/playlistItems",
        method="GET",
        query_string={"part": "contentDetails", "playlistId": "UUpat", "maxResults": "50"},
        headers=BEARER,
    ).respond_with_json({"items": [{"contentDetails": {"videoId": video_id}} for video_id in video_ids]})


def test_find_returns_the_upload_tagged_with_the_marker(httpserver, platform, account, post):
    expect_uploads_playlist(httpserver, ["old1", "new2"])
    httpserver.expect_ordered_request(
        "/youtube/v3/videos",
        method="GET",
        query_string={"part": "snippet", "id": "old1,new2"},
        headers=BEARER,
    ).respond_with_json(
        {
            "items": [
                {"id": "old1", "snippet": {"tags": ["ia", "cf1other"]}},
                {"id": "new2", "snippet": {"tags": ["ia", MARKER]}},
            ]
        }
    )

    assert youtube.find(post, account, platform) == Published("new2", "https://www.youtube.com/watch?v=new2")
    httpserver.check_assertions()


def test_find_returns_none_when_no_upload_carries_the_marker(httpserver, platform, account, post):
    expect_uploads_playlist(httpserver, ["old1"])
    httpserver.expect_ordered_request("/youtube/v3/videos").respond_with_json(
        {"items": [{"id": "old1", "snippet": {"title": "untagged"}}]}
    )

    assert youtube.find(post, account, platform) is None


def test_find_with_no_uploads_returns_none_without_looking_up_videos(httpserver, platform, account, post):
    expect_uploads_playlist(httpserver, [])

    assert youtube.find(post, account, platform) is None
    httpserver.check_assertions()
    assert len(httpserver.log) == 2


def test_find_with_an_answer_it_cannot_read_raises_rather_than_saying_none(
    httpserver, platform, account, post
):
    httpserver.expect_request("/youtube/v3/channels").respond_with_json({"items": [{"id": "UCpat"}]})

    with pytest.raises(PermanentError, match="not understood"):
        youtube.find(post, account, platform)
