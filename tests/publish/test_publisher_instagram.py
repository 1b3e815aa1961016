"""The Instagram publisher against a local HTTP server standing in for graph.instagram.com: the exact
requests (paths, query, form, Bearer token), the token exchange and refresh, the container's processing,
and how Instagram's answers become results and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from plugins.publish.platforms import Platform, get_platform
from plugins.publish.publishers import instagram
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    TransientError,
)

TOKEN = "ig-long-lived-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
LINK = "https://cf.example.org/l/AbCdEfGhIjKl"
VIDEO_URL = "https://cf.example.org/media/assets/42.mp4"
V = f"/{instagram.API_VERSION}"
ACCOUNT = Account(
    platform="instagram", access_token=TOKEN, external_id="17841400000000001", handle="pat.posts"
)
PERMALINK = "https://www.instagram.com/reel/C1a2b3c4d5e/"


def make_post(**fields: Any) -> Post:
    values: dict[str, Any] = {
        "assignment_id": 7,
        "title": "Ten tools that save an hour a day",
        "text": f"Ten tools that save an hour a day. Get them: {LINK} #tools #ad",
        "link": LINK,
        "tags": ("tools", "ad"),
        "marker": "cf-7",
        "media_url": VIDEO_URL,
        "media_type": "video/mp4",
    }
    values.update(fields)
    return Post(**values)


@pytest.fixture(autouse=True)
def server_saw_only_expected_requests(httpserver) -> Iterator[None]:
    """An unexpected request gets a 500 that could pass for Instagram's own: fail the test instead."""
    yield
    httpserver.check()


@pytest.fixture
def platform(make_app, httpserver) -> Iterator[Platform]:
    app = make_app(
        INSTAGRAM_API_BASE_URL=httpserver.url_for("").rstrip("/"),
        INSTAGRAM_CLIENT_ID="ig-client-id",
        INSTAGRAM_CLIENT_SECRET="ig-client-secret",
    )
    with app.app_context():
        yield get_platform("instagram")


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The pauses ``publish`` takes while Instagram processes the video, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(instagram, "pause", taken.append)
    return taken


def expect_container(httpserver):
    return httpserver.expect_ordered_request(
        f"{V}/{ACCOUNT.external_id}/media", method="POST", headers=BEARER
    )


def expect_status(httpserver, status_code: str, status: str = ""):
    httpserver.expect_ordered_request(
        f"{V}/c-1", method="GET", query_string={"fields": "status_code,status"}, headers=BEARER
    ).respond_with_json({"status_code": status_code, "status": status or status_code, "id": "c-1"})


def expect_media_publish(httpserver):
    return httpserver.expect_ordered_request(
        f"{V}/{ACCOUNT.external_id}/media_publish", method="POST", headers=BEARER
    )


def expect_permalink(httpserver):
    return httpserver.expect_ordered_request(
        f"{V}/m-9", method="GET", query_string={"fields": "permalink"}, headers=BEARER
    )


def expect_reel_published(httpserver) -> None:
    """Every step answering as it does when all goes well, the video processed at the first look."""
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_json({"id": "m-9"})
    expect_permalink(httpserver).respond_with_json({"permalink": PERMALINK, "id": "m-9"})


def form_of(httpserver, index: int) -> dict[str, str]:
    request, _ = httpserver.log[index]
    return request.form.to_dict()


# --- identify and tokens ---------------------------------------------------------------------------------


def test_identify_returns_the_professional_accounts_user_id_and_username(httpserver, platform):
    httpserver.expect_oneshot_request(
        f"{V}/me", method="GET", query_string={"fields": "user_id,username"}, headers=BEARER
    ).respond_with_json({"user_id": "17841400000000001", "username": "pat.posts", "id": "2690000000000001"})

    assert instagram.identify(platform, TOKEN) == ("17841400000000001", "pat.posts")


def expect_exchange(httpserver, short_token: str = "short-token"):
    return httpserver.expect_oneshot_request(
        "/access_token",
        method="GET",
        query_string={
            "grant_type": "ig_exchange_token",
            "client_secret": "ig-client-secret",
            "access_token": short_token,
        },
    )


def test_finish_token_exchanges_the_short_lived_token_for_a_long_lived_one(httpserver, platform):
    expect_exchange(httpserver).respond_with_json(
        {"access_token": "long-token", "token_type": "bearer", "expires_in": 5183944}
    )

    token = instagram.finish_token(
        platform, {"access_token": "short-token", "user_id": 1784140, "permissions": []}
    )

    assert token == {"access_token": "long-token", "token_type": "bearer", "expires_in": 5183944}


def test_finish_token_unwraps_a_short_lived_token_sent_in_a_data_list(httpserver, platform):
    expect_exchange(httpserver).respond_with_json({"access_token": "long-token", "expires_in": 5183944})
    wrapped = {"data": [{"access_token": "short-token", "user_id": "1784140", "permissions": "a,b"}]}

    assert instagram.finish_token(platform, wrapped)["access_token"] == "long-token"


def test_finish_token_sends_the_short_token_only_in_the_query(httpserver, platform):
    expect_exchange(httpserver).respond_with_json({"access_token": "long-token", "expires_in": 5183944})

    instagram.finish_token(platform, {"access_token": "short-token"})

    request, _ = httpserver.log[0]
    assert "Authorization" not in request.headers


def test_finish_token_refused_is_an_auth_error(httpserver, platform):
    expect_exchange(httpserver).respond_with_json(
        {"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 452}},
        status=400,
    )

    with pytest.raises(AuthError):
        instagram.finish_token(platform, {"access_token": "short-token"})


def test_finish_token_without_a_short_token_is_an_auth_error(httpserver, platform):
    with pytest.raises(AuthError):
        instagram.finish_token(platform, {"data": []})

    assert httpserver.log == []


def expect_refresh(httpserver):
    return httpserver.expect_oneshot_request(
        "/refresh_access_token",
        method="GET",
        query_string={"grant_type": "ig_refresh_token", "access_token": TOKEN},
    )


def test_refresh_returns_the_renewed_long_lived_token(httpserver, platform):
    expect_refresh(httpserver).respond_with_json(
        {"access_token": "renewed-token", "token_type": "bearer", "expires_in": 5184000}
    )

    token = instagram.refresh(platform, TOKEN, None)

    assert token == {"access_token": "renewed-token", "token_type": "bearer", "expires_in": 5184000}


@pytest.mark.parametrize("status", [400, 401])
def test_refresh_refused_is_an_auth_error(httpserver, platform, status):
    expect_refresh(httpserver).respond_with_json(
        {"error": {"message": "Session has expired", "type": "OAuthException", "code": 452}}, status=status
    )

    with pytest.raises(AuthError):
        instagram.refresh(platform, TOKEN, None)


# --- publish -----------------------------------------------------------------------------------------------


def test_publish_makes_a_reels_container_from_the_video_url(httpserver, platform, pauses):
    expect_reel_published(httpserver)

    instagram.publish(make_post(), ACCOUNT, platform)

    assert form_of(httpserver, 0) == {
        "media_type": "REELS",
        "video_url": VIDEO_URL,
        "caption": f"Ten tools that save an hour a day. Get them: {LINK} #tools #ad",
        "share_to_feed": "true",
    }


def test_publish_publishes_the_processed_container(httpserver, platform, pauses):
    expect_reel_published(httpserver)

    instagram.publish(make_post(), ACCOUNT, platform)

    assert form_of(httpserver, 2) == {"creation_id": "c-1"}


def test_publish_returns_the_reels_media_id_and_permalink(httpserver, platform, pauses):
    expect_reel_published(httpserver)

    assert instagram.publish(make_post(), ACCOUNT, platform) == Published("m-9", PERMALINK)


def test_publish_waits_while_the_video_is_in_progress(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "IN_PROGRESS")
    expect_status(httpserver, "IN_PROGRESS")
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_json({"id": "m-9"})
    expect_permalink(httpserver).respond_with_json({"permalink": PERMALINK})

    instagram.publish(make_post(), ACCOUNT, platform)

    assert pauses == [instagram.POLL_EVERY_SECONDS] * 2


def test_video_still_processing_after_a_minute_is_transient_and_not_posted(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    httpserver.expect_request(f"{V}/c-1", method="GET").respond_with_json({"status_code": "IN_PROGRESS"})

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is False
    assert 50 <= sum(pauses) <= 60


@pytest.mark.parametrize("status_code", ["ERROR", "EXPIRED"])
def test_container_that_failed_is_permanent_with_instagrams_status(httpserver, platform, pauses, status_code):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, status_code, f"{status_code}: Error 2207026")

    with pytest.raises(PermanentError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert f"{status_code}: Error 2207026" in raised.value.message


def test_publish_without_a_video_is_permanent_and_asks_nothing(httpserver, platform):
    with pytest.raises(PermanentError, match="Instagram needs a video"):
        instagram.publish(make_post(media_url=None, media_type=None), ACCOUNT, platform)

    assert httpserver.log == []


def test_publish_of_an_image_is_permanent_and_asks_nothing(httpserver, platform):
    with pytest.raises(PermanentError, match="Instagram needs a video"):
        instagram.publish(make_post(media_type="image/jpeg"), ACCOUNT, platform)

    assert httpserver.log == []


def test_long_caption_is_cut_before_the_link_keeping_link_and_disclosure(httpserver, platform, pauses):
    expect_reel_published(httpserver)

    instagram.publish(make_post(text="y" * 3000 + f" {LINK} #tools #ad"), ACCOUNT, platform)

    caption = form_of(httpserver, 0)["caption"]
    assert len(caption) == instagram.CAPTION_MAX_CHARS
    assert caption.endswith(f"… {LINK} #tools #ad")


def test_500_on_media_publish_may_have_posted(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is True


def test_malformed_json_on_media_publish_may_have_posted(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_data("{not json", content_type="application/json")

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is True


def test_500_on_the_container_has_not_posted(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is False


def test_401_is_an_auth_error(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"error": {"message": "no", "code": 190}}, status=401)

    with pytest.raises(AuthError):
        instagram.publish(make_post(), ACCOUNT, platform)


def test_400_about_an_expired_token_is_an_auth_error(httpserver, platform, pauses):
    error = {
        "message": "Error validating access token: Session has expired",
        "type": "OAuthException",
        "code": 190,
    }
    expect_container(httpserver).respond_with_json({"error": error}, status=400)

    with pytest.raises(AuthError):
        instagram.publish(make_post(), ACCOUNT, platform)


def test_400_about_the_publishing_limit_is_transient(httpserver, platform, pauses):
    error = {"message": "Application request limit reached", "code": 9, "error_subcode": 2207042}
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_json({"error": error}, status=400)

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is False


def test_other_400_on_the_container_is_permanent(httpserver, platform, pauses):
    error = {"message": "The video file is not a supported format", "code": 100, "error_subcode": 2207026}
    expect_container(httpserver).respond_with_json({"error": error}, status=400)

    with pytest.raises(PermanentError, match="not a supported format"):
        instagram.publish(make_post(), ACCOUNT, platform)


def test_429_is_transient_after_retry_after(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_data("slow down", status=429, headers={"Retry-After": "30"})

    with pytest.raises(TransientError) as raised:
        instagram.publish(make_post(), ACCOUNT, platform)

    assert raised.value.retry_after == 30


def test_permalink_that_fails_still_returns_the_published_reel(httpserver, platform, pauses):
    expect_container(httpserver).respond_with_json({"id": "c-1"})
    expect_status(httpserver, "FINISHED")
    expect_media_publish(httpserver).respond_with_json({"id": "m-9"})
    expect_permalink(httpserver).respond_with_data("oops", status=500)

    assert instagram.publish(make_post(), ACCOUNT, platform) == Published("m-9", "https://www.instagram.com/")


# --- find --------------------------------------------------------------------------------------------------


def expect_media_list(httpserver):
    return httpserver.expect_oneshot_request(
        f"{V}/{ACCOUNT.external_id}/media",
        method="GET",
        query_string={"fields": "id,caption,permalink", "limit": "50"},
        headers=BEARER,
    )


def test_find_returns_the_reel_whose_caption_has_the_short_link(httpserver, platform):
    expect_media_list(httpserver).respond_with_json(
        {
            "data": [
                {
                    "id": "m-1",
                    "caption": "Another one https://cf.example.org/l/ZZZZZZZZZZZZ #ad",
                    "permalink": "p1",
                },
                {"id": "m-9", "caption": f"Get them: {LINK} #tools #ad", "permalink": PERMALINK},
            ]
        }
    )

    assert instagram.find(make_post(), ACCOUNT, platform) == Published("m-9", PERMALINK)


def test_find_returns_none_when_only_a_longer_link_starts_the_same(httpserver, platform):
    expect_media_list(httpserver).respond_with_json(
        {"data": [{"id": "m-1", "caption": f"Get them: {LINK}x #ad", "permalink": "p1"}, {"id": "m-2"}]}
    )

    assert instagram.find(make_post(), ACCOUNT, platform) is None
