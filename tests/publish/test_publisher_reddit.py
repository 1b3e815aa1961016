"""The Reddit publisher against a local HTTP server standing in for oauth.reddit.com: the exact requests
(paths, query, form, Bearer token, User-Agent) and how Reddit's answers become results and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from plugins.publish.platforms import Platform, get_platform
from plugins.publish.publishers import reddit
from plugins.publish.publishers.base import (
    Account,
    AuthError,
    PermanentError,
    Post,
    Published,
    TransientError,
)

USER_AGENT = "web:contentflow-tests:1.0 (by the test suite)"
TOKEN = "reddit-access-token"
LINK = "https://cf.example.org/l/AbCdEfGhIjKl"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "User-Agent": USER_AGENT}
ACCOUNT = Account(platform="reddit", access_token=TOKEN, external_id="1w72", handle="pat_posts")


def make_post(**fields: Any) -> Post:
    values: dict[str, Any] = {
        "assignment_id": 7,
        "title": "Ten tools that save an hour a day",
        "text": f"Watch this. {LINK} #ad",
        "link": LINK,
        "tags": ("tools", "ad"),
        "marker": "cf-7",
    }
    values.update(fields)
    return Post(**values)


def submitted(errors: list[list[str]] | None = None, **extra: Any) -> dict[str, Any]:
    """Reddit's answer to /api/submit with ``api_type=json``."""
    data = {
        "url": "https://www.reddit.com/user/pat_posts/comments/1abc/ten_tools/",
        "id": "1abc",
        "name": "t3_1abc",
    }
    body: dict[str, Any] = {"errors": errors or [], **extra}
    if not errors:
        body["data"] = data
    return {"json": body}


@pytest.fixture(autouse=True)
def server_saw_only_expected_requests(httpserver) -> Iterator[None]:
    """An unexpected request gets a 500 that could pass for Reddit's own: fail the test instead."""
    yield
    httpserver.check()


@pytest.fixture
def platform(make_app, httpserver) -> Iterator[Platform]:
    app = make_app(REDDIT_API_BASE_URL=httpserver.url_for("").rstrip("/"), REDDIT_USER_AGENT=USER_AGENT)
    with app.app_context():
        yield get_platform("reddit")


def expect_submit(httpserver):
    return httpserver.expect_oneshot_request("/api/submit", method="POST", headers=HEADERS)


def sent_form(httpserver) -> dict[str, str]:
    request, _ = httpserver.log[-1]
    return request.form.to_dict()


def test_identify_returns_reddit_id_and_name(httpserver, platform):
    httpserver.expect_oneshot_request("/api/v1/me", method="GET", headers=HEADERS).respond_with_json(
        {"id": "1w72", "name": "pat_posts", "link_karma": 12}
    )

    assert reddit.identify(platform, TOKEN) == ("1w72", "pat_posts")


def test_identify_without_a_name_is_permanent(httpserver, platform):
    httpserver.expect_oneshot_request("/api/v1/me", method="GET").respond_with_json({"id": "1w72"})

    with pytest.raises(PermanentError):
        reddit.identify(platform, TOKEN)


def test_publish_submits_a_link_post_to_the_partners_profile_without_target(httpserver, platform):
    expect_submit(httpserver).respond_with_json(submitted())

    reddit.publish(make_post(), ACCOUNT, platform)

    assert sent_form(httpserver) == {
        "api_type": "json",
        "kind": "link",
        "sr": "u_pat_posts",
        "title": "Ten tools that save an hour a day #ad",
        "url": LINK,
        "resubmit": "true",
        "sendreplies": "true",
    }


def test_publish_submits_to_the_target_subreddit(httpserver, platform):
    expect_submit(httpserver).respond_with_json(submitted())

    reddit.publish(make_post(target="productivity"), ACCOUNT, platform)

    assert sent_form(httpserver)["sr"] == "productivity"


def test_publish_returns_the_fullname_and_url_reddit_gave(httpserver, platform):
    expect_submit(httpserver).respond_with_json(submitted())

    published = reddit.publish(make_post(), ACCOUNT, platform)

    assert published == Published("t3_1abc", "https://www.reddit.com/user/pat_posts/comments/1abc/ten_tools/")


def test_long_title_is_cut_to_300_characters_keeping_the_disclosure(httpserver, platform):
    expect_submit(httpserver).respond_with_json(submitted())

    reddit.publish(make_post(title="x" * 400), ACCOUNT, platform)

    title = sent_form(httpserver)["title"]
    assert len(title) == 300
    assert title.endswith("x #ad")


def test_ratelimit_error_is_transient_after_reddits_ratelimit_seconds(httpserver, platform):
    error = ["RATELIMIT", "Take a break for 9 minutes before trying again.", "ratelimit"]
    expect_submit(httpserver).respond_with_json(submitted([error], ratelimit=540.5))

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.retry_after == 540.5
    assert raised.value.maybe_posted is False


def test_ratelimit_error_without_seconds_reads_the_wait_from_the_message(httpserver, platform):
    error = ["RATELIMIT", "Looks like you've been doing that a lot. Take a break for 4 minutes.", "ratelimit"]
    expect_submit(httpserver).respond_with_json(submitted([error]))

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.retry_after == 240


def test_subreddit_noexist_error_is_permanent_with_reddits_message(httpserver, platform):
    error = ["SUBREDDIT_NOEXIST", "that subreddit doesn't exist", "sr"]
    expect_submit(httpserver).respond_with_json(submitted([error]))

    with pytest.raises(PermanentError) as raised:
        reddit.publish(make_post(target="nosuchplace"), ACCOUNT, platform)

    assert "that subreddit doesn't exist" in raised.value.message


def test_403_on_submit_is_permanent_not_a_token_problem(httpserver, platform):
    expect_submit(httpserver).respond_with_json({"message": "Forbidden", "error": 403}, status=403)

    with pytest.raises(PermanentError):
        reddit.publish(make_post(target="private_club"), ACCOUNT, platform)


def test_401_on_submit_is_an_auth_error(httpserver, platform):
    expect_submit(httpserver).respond_with_json({"message": "Unauthorized", "error": 401}, status=401)

    with pytest.raises(AuthError):
        reddit.publish(make_post(), ACCOUNT, platform)


def test_429_is_transient_after_retry_after(httpserver, platform):
    expect_submit(httpserver).respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "120"}
    )

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.retry_after == 120


def test_500_on_submit_may_have_posted(httpserver, platform):
    expect_submit(httpserver).respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is True


def test_malformed_json_on_submit_may_have_posted(httpserver, platform):
    expect_submit(httpserver).respond_with_data("<html>we're down</html>", content_type="text/html")

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is True


def test_submit_answer_without_json_envelope_may_have_posted(httpserver, platform):
    expect_submit(httpserver).respond_with_json({"jquery": []})

    with pytest.raises(TransientError) as raised:
        reddit.publish(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is True


def expect_submissions(httpserver):
    return httpserver.expect_oneshot_request(
        "/user/pat_posts/submitted",
        method="GET",
        query_string={"limit": "100", "sort": "new", "raw_json": "1"},
        headers=HEADERS,
    )


def listing(*posts: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {"after": None, "children": [{"kind": "t3", "data": p} for p in posts]},
    }


def test_find_returns_the_submission_linking_to_the_short_link(httpserver, platform):
    expect_submissions(httpserver).respond_with_json(
        listing(
            {
                "name": "t3_other",
                "url": "https://cf.example.org/l/ZZZZZZZZZZZZ",
                "permalink": "/r/x/comments/other/",
            },
            {"name": "t3_1abc", "url": LINK, "permalink": "/r/productivity/comments/1abc/ten_tools/"},
        )
    )

    found = reddit.find(make_post(), ACCOUNT, platform)

    assert found == Published("t3_1abc", "https://www.reddit.com/r/productivity/comments/1abc/ten_tools/")


def test_find_returns_none_when_no_submission_links_there(httpserver, platform):
    expect_submissions(httpserver).respond_with_json(
        listing({"name": "t3_other", "url": "https://example.com/", "permalink": "/r/x/comments/other/"})
    )

    assert reddit.find(make_post(), ACCOUNT, platform) is None


def test_500_on_find_has_not_posted(httpserver, platform):
    expect_submissions(httpserver).respond_with_data("oops", status=500)

    with pytest.raises(TransientError) as raised:
        reddit.find(make_post(), ACCOUNT, platform)

    assert raised.value.maybe_posted is False
