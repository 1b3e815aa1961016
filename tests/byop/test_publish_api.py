"""``POST /api/byop/publish`` (seed 000): one approved assignment per platform on the partner's accounts,
through the core hook the publish plugin answers; the seed's JSON answers and errors; the kit's HTMX
button; the sub-flag."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contentflow.models import Assignment
from plugins.publish.models import AccountSettings
from tests.conftest import csrf_token_of, sign_in


def publish(client, payload, **headers):
    token = csrf_token_of(client, "/partners")
    return client.post("/api/byop/publish", json=payload, headers={"X-CSRFToken": token, **headers})


def assignments(db) -> list[Assignment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Assignment).order_by(Assignment.id)))


@pytest.fixture
def made(make_submission, partner):
    return make_submission(partner)


def test_seed_quick_test_creates_approved_assignments_and_reports_skips(
    partner_client, db, partner, made, make_account
):
    make_account(partner, "youtube")
    make_account(partner, "reddit")
    response = publish(
        partner_client, {"submissionId": made.id, "platforms": ["youtube", "reddit", "pinterest"]}
    )
    assert response.status_code == 200
    body = response.get_json()
    rows = assignments(db)
    assert body == {
        "ok": True,
        "created": [
            {"platform": row.platform, "assignment_id": row.id}
            for row in sorted(rows, key=lambda r: ("youtube", "pinterest", "reddit").index(r.platform))
        ],
        "skipped": [{"platform": "pinterest", "reason": "no_connected_account"}],
        "submissionId": made.id,
        "assetId": made.asset_id,
    }
    assert {(row.platform, row.status, row.asset_id) for row in rows} == {
        ("youtube", "approved", made.asset_id),
        ("reddit", "approved", made.asset_id),
    }


def test_a_second_click_skips_what_is_already_assigned(partner_client, db, partner, made, make_account):
    make_account(partner, "reddit")
    publish(partner_client, {"submissionId": made.id, "platforms": ["reddit"]})
    again = publish(partner_client, {"submissionId": made.id, "platforms": ["reddit"]}).get_json()
    assert again["created"] == []
    assert again["skipped"] == [{"platform": "reddit", "reason": "already_assigned"}]
    assert len(assignments(db)) == 1


def test_an_account_to_reconnect_is_skipped_with_its_reason(partner_client, db, partner, made, make_account):
    account = make_account(partner, "reddit")
    db.session.add(AccountSettings(account_id=account.id, needs_reconnect=True))
    db.session.commit()
    body = publish(partner_client, {"submissionId": made.id, "platforms": ["reddit"]}).get_json()
    assert body["skipped"] == [{"platform": "reddit", "reason": "account_reconnect_needed"}]


@pytest.mark.parametrize(
    "asked", [{}, {"platforms": []}, {"platforms": None}], ids=["absent", "empty", "null"]
)
def test_no_platforms_requested_means_every_allowed_one(
    partner_client, db, partner, made, make_account, asked
):
    make_account(partner, "reddit")
    body = publish(partner_client, {"submissionId": made.id, **asked}).get_json()
    assert [s["platform"] for s in body["skipped"]] == ["youtube", "pinterest", "instagram"]
    assert [c["platform"] for c in body["created"]] == ["reddit"]


def test_platforms_outside_the_allowed_ones_answer_no_platforms(make_app, db, partner, made):
    client = make_app(BYOP_PUBLISH_PLATFORMS=("youtube",)).test_client()
    sign_in(client, partner)
    response = publish(client, {"submissionId": made.id, "platforms": ["reddit", "tiktok"]})
    assert (response.status_code, response.get_json()) == (400, {"ok": False, "error": "no_platforms"})


@pytest.mark.parametrize("whose", ["unknown", "another partner's"])
def test_a_submission_that_is_not_yours_answers_404(partner_client, db, make_partner, make_submission, whose):
    submission_id = "nope" if whose == "unknown" else make_submission(make_partner("o@example.com")).id
    response = publish(partner_client, {"submissionId": submission_id, "platforms": ["reddit"]})
    assert (response.status_code, response.get_json()) == (
        404,
        {"ok": False, "error": "submission_not_found"},
    )
    assert assignments(db) == []


def test_a_taken_down_asset_answers_asset_not_found(partner_client, db, partner, made, make_account):
    from contentflow.models import Asset

    make_account(partner, "reddit")
    db.session.get(Asset, made.asset_id).status = "quarantined"  # a DMCA notice
    db.session.commit()
    response = publish(partner_client, {"submissionId": made.id, "platforms": ["reddit"]})
    assert (response.status_code, response.get_json()) == (404, {"ok": False, "error": "asset_not_found"})
    assert assignments(db) == []


def test_a_submission_id_with_more_characters_is_not_found(partner_client, db, partner, made, make_account):
    make_account(partner, "reddit")
    response = publish(partner_client, {"submissionId": made.id + "x", "platforms": ["reddit"]})
    assert (response.status_code, response.get_json()) == (
        404,
        {"ok": False, "error": "submission_not_found"},
    )
    assert assignments(db) == []


def test_anonymous_visitors_get_401(client, db, made):
    response = publish(client, {"submissionId": made.id})
    assert (response.status_code, response.get_json()) == (401, {"ok": False, "error": "unauthorized"})


@pytest.mark.parametrize(
    "settings",
    [{"FEATURE_BYOP_PUBLISH": False}, {"FEATURE_PUBLISH": False}],
    ids=["sub-flag", "no-publisher"],
)
def test_publishing_switched_off_answers_feature_disabled(make_app, db, partner, made, settings):
    client = make_app(**settings).test_client()
    sign_in(client, partner)
    response = publish(client, {"submissionId": made.id})
    assert (response.status_code, response.get_json()) == (400, {"ok": False, "error": "feature_disabled"})


@pytest.mark.parametrize(
    "payload",
    [["reddit"], {"submissionId": "x", "platforms": "reddit"}, {"submissionId": "x", "platforms": [1]}],
)
def test_a_body_that_is_not_the_seeds_answers_400(partner_client, db, made, payload):
    response = publish(partner_client, payload)
    assert (response.status_code, response.get_json()) == (400, {"ok": False, "error": "bad_request"})


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing", "forged"])
def test_without_csrf_the_json_call_is_refused_in_json(
    partner_client, db, partner, made, make_account, token
):
    make_account(partner, "reddit")
    headers = {"X-CSRFToken": token} if token else {}
    response = partner_client.post("/api/byop/publish", json={"submissionId": made.id}, headers=headers)
    assert (response.status_code, response.get_json()) == (400, {"ok": False, "error": "csrf"})
    assert assignments(db) == []


def test_the_kits_form_without_csrf_gets_the_error_page(partner_client, db, partner, made, make_account):
    make_account(partner, "reddit")
    response = partner_client.post(
        "/api/byop/publish", data={"submissionId": made.id, "platforms": ["reddit"]}
    )
    assert response.status_code == 400
    assert "Your form expired" in response.get_data(as_text=True)
    assert assignments(db) == []


def test_the_kits_htmx_button_gets_the_result_partial(partner_client, db, partner, made, make_account):
    make_account(partner, "reddit")
    token = csrf_token_of(partner_client, "/byop/new")
    response = partner_client.post(
        "/api/byop/publish",
        data={"submissionId": made.id, "platforms": ["reddit", "youtube"], "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="byop-publish-result"')
    assert 'data-platform="reddit" data-outcome="created"' in body
    assert 'data-platform="youtube" data-outcome="no_connected_account"' in body


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_the_kits_form_with_no_platform_ticked_publishes_nowhere(
    partner_client, db, partner, made, make_account, htmx
):
    make_account(partner, "reddit")
    token = csrf_token_of(partner_client, "/byop/new")
    response = partner_client.post(
        "/api/byop/publish",
        data={"submissionId": made.id, "csrf_token": token},
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "None of these platforms can be published to." in body
    assert body.lstrip().startswith('<div id="byop-publish-result"') is htmx
    assert assignments(db) == []


def test_the_kits_form_without_javascript_goes_back_to_the_kit(
    partner_client, db, partner, made, make_account
):
    make_account(partner, "reddit")
    token = csrf_token_of(partner_client, "/byop/new")
    response = partner_client.post(
        "/api/byop/publish", data={"submissionId": made.id, "platforms": ["reddit"], "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/byop/kit?id={made.id}"
    assert len(assignments(db)) == 1


@pytest.mark.parametrize(
    ("settings", "shown"),
    [({}, True), ({"FEATURE_BYOP_PUBLISH": False}, False), ({"FEATURE_PUBLISH": False}, False)],
    ids=["on", "sub-flag-off", "publish-off"],
)
def test_the_publish_button_is_on_the_kit_only_when_publishing_is_possible(
    make_app, db, partner, made, settings, shown
):
    client = make_app(**settings).test_client()
    sign_in(client, partner)
    page = client.get(f"/byop/kit?id={made.id}").get_data(as_text=True)
    assert ('id="byop-publish"' in page) is shown
