"""Publish plugin fixtures: an app whose Reddit (and YouTube) OAuth and API endpoints are a local fake
over real HTTP (pytest-httpserver), connected accounts, link-only assets ready to post."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from werkzeug import Request, Response

from contentflow.models import Asset, Assignment, Partner, PartnerAccount
from tests.conftest import sign_in

REDDIT_TOKEN_PATH = "/api/v1/access_token"


def reddit_settings(httpserver, **extra: Any) -> dict[str, Any]:
    base = httpserver.url_for("").rstrip("/")
    return {
        "REDDIT_CLIENT_ID": "reddit-app",
        "REDDIT_CLIENT_SECRET": "reddit-secret",
        "REDDIT_AUTHORIZE_URL": f"{base}/api/v1/authorize",
        "REDDIT_TOKEN_URL": f"{base}{REDDIT_TOKEN_PATH}",
        "REDDIT_API_BASE_URL": base,
        "YOUTUBE_CLIENT_ID": "youtube-app",
        "YOUTUBE_CLIENT_SECRET": "youtube-secret",
        "YOUTUBE_AUTHORIZE_URL": f"{base}/o/oauth2/v2/auth",
        "YOUTUBE_TOKEN_URL": f"{base}/token",
        "YOUTUBE_API_BASE_URL": base,
        **extra,
    }


@pytest.fixture
def partner(make_partner) -> Partner:
    """Pat, who chose English: these tests read the pages' English wording (French is the default)."""
    return make_partner("pat@example.com", display_name="Pat", locale="en")


@pytest.fixture
def publish_app(make_app, httpserver, db) -> Callable[..., Flask]:
    """An app (all flags on) whose Reddit and YouTube are the local fake; build it with extra settings."""
    db.session.commit()  # the test's rows are visible to the other app's requests

    def build(**extra: Any) -> Flask:
        return make_app(**reddit_settings(httpserver, **extra))

    return build


@pytest.fixture
def app_on_fake(publish_app) -> Flask:
    return publish_app()


@pytest.fixture
def partner_client_on_fake(app_on_fake, partner):
    client = app_on_fake.test_client()
    sign_in(client, partner)
    return client


@pytest.fixture
def make_account(db) -> Callable[..., PartnerAccount]:
    """A connected account (tokens as Reddit would give them), committed."""

    def build(
        partner: Partner, platform: str = "reddit", handle: str = "pat_r", **fields: Any
    ) -> PartnerAccount:
        fields.setdefault("external_id", f"id-{handle}")
        fields.setdefault("access_token", "access-1")
        fields.setdefault("refresh_token", "refresh-1")
        fields.setdefault("token_expires_at", datetime.now(UTC) + timedelta(days=365))
        fields.setdefault("daily_cap", 3)
        fields.setdefault("min_interval_minutes", 0)
        account = PartnerAccount(partner_id=partner.id, platform=platform, handle=handle, **fields)
        db.session.add(account)
        db.session.commit()
        return account

    return build


@pytest.fixture
def ready_asset(make_asset, make_offer) -> Asset:
    """A link-only asset (ready at once) promoting an active offer, with a call to action and hashtags."""
    return make_asset(
        "Trois outils IA",
        offer=make_offer(),
        description="Three tools in 60 seconds.",
        cta="Try them:",
        hashtags="#ia #tools",
    )


@pytest.fixture
def make_assignment(db) -> Callable[..., Assignment]:
    def build(account: PartnerAccount, asset: Asset, status: str = "approved", **fields: Any) -> Assignment:
        fields.setdefault("planned_at", None)  # as soon as possible
        assignment = Assignment(
            asset_id=asset.id,
            partner_id=account.partner_id,
            platform=account.platform,
            partner_account_id=account.id,
            status=status,
            **fields,
        )
        db.session.add(assignment)
        db.session.commit()
        return assignment

    return build


class FakeReddit:
    """Reddit's submit and submissions listing, stateful: a submission made is then listed."""

    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        self.submissions: list[dict[str, str]] = []
        self.refusal: tuple[int, Any] | None = None
        httpserver.expect_request("/api/submit", method="POST").respond_with_handler(self.submit)
        httpserver.expect_request("/user/pat_r/submitted", method="GET").respond_with_handler(self.listing)

    def submit(self, request: Request) -> Response:
        if self.refusal is not None:
            status, body = self.refusal
            return Response(body if isinstance(body, str) else json.dumps(body), status=status)
        form = request.form.to_dict()
        number = len(self.submissions) + 1
        self.submissions.append(form)
        data = {
            "url": f"https://www.reddit.com/r/x/comments/p{number}/",
            "id": f"p{number}",
            "name": f"t3_p{number}",
        }
        return Response(json.dumps({"json": {"errors": [], "data": data}}), mimetype="application/json")

    def listing(self, request: Request) -> Response:
        children = [
            {"data": {"url": form["url"], "name": f"t3_p{n}", "permalink": f"/r/x/comments/p{n}/"}}
            for n, form in enumerate(self.submissions, start=1)
        ]
        return Response(json.dumps({"data": {"children": children}}), mimetype="application/json")


@pytest.fixture
def fake_reddit(httpserver) -> FakeReddit:
    return FakeReddit(httpserver)
