"""The publish plugin's settings as the issue's contract names them: every platform's OAuth app and
endpoints (defaulting to the real ones), the YouTube upload base, the ingestion's private-host switch;
and API paths appended to a base URL exactly as the platforms document them."""

from __future__ import annotations

import pytest

from contentflow.settings import load_settings
from plugins.publish.platforms import get_platform

REAL_ENDPOINTS = {
    "REDDIT": (
        "https://www.reddit.com/api/v1/authorize",
        "https://www.reddit.com/api/v1/access_token",
        "https://oauth.reddit.com",
    ),
    "YOUTUBE": (
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com",
    ),
    "PINTEREST": (
        "https://www.pinterest.com/oauth/",
        "https://api.pinterest.com/v5/oauth/token",
        "https://api.pinterest.com",
    ),
    "INSTAGRAM": (
        "https://www.instagram.com/oauth/authorize",
        "https://api.instagram.com/oauth/access_token",
        "https://graph.instagram.com",
    ),
}


@pytest.mark.parametrize("prefix", sorted(REAL_ENDPOINTS))
def test_each_platform_defaults_to_its_real_endpoints_and_no_client(prefix):
    values = load_settings({})
    authorize, token, api = REAL_ENDPOINTS[prefix]
    assert (values[f"{prefix}_CLIENT_ID"], values[f"{prefix}_CLIENT_SECRET"]) == ("", "")
    assert values[f"{prefix}_AUTHORIZE_URL"] == authorize
    assert values[f"{prefix}_TOKEN_URL"] == token
    assert values[f"{prefix}_API_BASE_URL"] == api


def test_youtube_uploads_and_private_hosts_default_as_the_contract_says():
    values = load_settings({})
    assert values["YOUTUBE_UPLOAD_BASE_URL"] == "https://www.googleapis.com/upload"
    assert values["YOUTUBE_PRIVACY_STATUS"] == "private"
    assert values["INGEST_ALLOW_PRIVATE_HOSTS"] is False
    assert load_settings({"INGEST_ALLOW_PRIVATE_HOSTS": "true"})["INGEST_ALLOW_PRIVATE_HOSTS"] is True


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://oauth.reddit.com", "https://oauth.reddit.com/api/v1/me"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1/me"),
        ("http://127.0.0.1:8080/reddit", "http://127.0.0.1:8080/reddit/api/v1/me"),
    ],
)
def test_api_paths_are_appended_to_the_base_url_as_documented(make_app, base, expected):
    with make_app(REDDIT_API_BASE_URL=base).app_context():
        reddit = get_platform("reddit")
        assert reddit.api("/api/v1/me") == expected
        assert reddit.api("/api/submit") == expected.removesuffix("/api/v1/me") + "/api/submit"


@pytest.mark.parametrize(
    ("platform", "revoke_url"),
    [
        ("reddit", "https://www.reddit.com/api/v1/revoke_token"),
        ("youtube", "https://oauth2.googleapis.com/revoke"),
        ("pinterest", None),  # not revoked here: the partner removes the app on Pinterest
        ("instagram", None),  # not revoked here: the partner removes the app on Instagram
    ],
)
def test_disconnection_revokes_at_each_platforms_real_endpoint_where_there_is_one(
    make_app, platform, revoke_url
):
    token_url = f"{platform.upper()}_TOKEN_URL"
    with make_app(**{token_url: load_settings({})[token_url]}).app_context():
        assert get_platform(platform).revoke_url == revoke_url
