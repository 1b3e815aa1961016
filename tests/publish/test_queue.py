"""The assignment queue: made by the CLI, an admin or the core hook; reviewed by the partner on an HTMX
page; retried and cancelled by admins. One live assignment per asset, partner and platform."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from contentflow.models import Assignment, AuditLog
from contentflow.services import assignments as core_assignments
from plugins.publish.models import AccountSettings
from plugins.publish.services import queue
from tests.conftest import csrf_token_of, sign_in


def assignments(db) -> list[Assignment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Assignment).order_by(Assignment.id)))


# --- making assignments ------------------------------------------------------------------------------


def test_an_assignment_goes_to_the_partners_first_enabled_account_for_review(
    db, partner, make_account, ready_asset
):
    paused = make_account(partner, handle="old", enabled=False)
    first = make_account(partner, handle="first")
    make_account(partner, handle="second")
    outcome = queue.create(partner.id, ready_asset.id, "reddit")
    [made] = assignments(db)
    assert outcome == core_assignments.AssignmentOutcome("reddit", assignment_id=made.id)
    assert (made.partner_account_id, made.status) == (first.id, "pending")
    assert paused.id != made.partner_account_id


def test_autopublish_approves_new_assignments(db, partner, make_account, ready_asset):
    account = make_account(partner)
    db.session.add(AccountSettings(account_id=account.id, autopublish=True))
    db.session.commit()
    queue.create(partner.id, ready_asset.id, "reddit")
    assert assignments(db)[0].status == "approved"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("none", "no_connected_account"),
        ("reconnect", "account_reconnect_needed"),
        ("twice", "already_assigned"),
    ],
)
def test_an_assignment_that_cannot_be_made_is_skipped_with_its_reason(
    db, partner, make_account, ready_asset, setup, reason
):
    if setup != "none":
        account = make_account(partner)
        if setup == "reconnect":
            db.session.add(AccountSettings(account_id=account.id, needs_reconnect=True))
            db.session.commit()
        else:
            queue.create(partner.id, ready_asset.id, "reddit")
            db.session.commit()
    outcome = queue.create(partner.id, ready_asset.id, "reddit", approved=True)
    assert (outcome.assignment_id, outcome.reason) == (None, reason)
    assert len(assignments(db)) == (1 if setup == "twice" else 0)


def test_the_core_hook_makes_assignments_through_the_publish_plugin(
    app, db, partner, make_account, ready_asset
):
    make_account(partner)
    assert core_assignments.can_create()
    outcome = core_assignments.create_for(partner.id, ready_asset.id, "reddit", approved=True)
    assert outcome.is_created
    assert assignments(db)[0].status == "approved"


# --- the CLI ---------------------------------------------------------------------------------------


def cli(app, *args: str):
    # The CLI speaks DEFAULT_LOCALE (French); these tests read its English messages.
    with force_locale("en"):
        return app.test_cli_runner().invoke(args=["assignments", "create", *args])


def test_cli_creates_an_approved_assignment_and_prints_its_id_last(
    app, db, partner, make_account, ready_asset
):
    make_account(partner)
    result = cli(app, ready_asset.id, "Pat@Example.com", "reddit", "--approve")
    assert result.exit_code == 0, result.output
    [made] = assignments(db)
    assert result.stdout.strip().splitlines()[-1] == str(made.id)
    assert made.status == "approved"
    assert db.session.scalars(select(AuditLog.action)).all() == ["assignment.create"]


def test_cli_without_an_account_says_so_and_exits_1(app, db, partner, ready_asset):
    result = cli(app, ready_asset.id, partner.email, "reddit")
    assert result.exit_code == 1
    assert "has no enabled reddit account" in result.stderr
    assert assignments(db) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "pat@example.com", "reddit"), "No such asset."),
        (("ASSET", "nobody@example.com", "reddit"), "no partner with the e-mail"),
        (("ASSET", "pat@example.com", "tiktok"), "Unknown platform: tiktok."),
    ],
)
def test_cli_refuses_unknown_things_clearly(app, db, partner, ready_asset, args, message):
    args = tuple(ready_asset.id if a == "ASSET" else a for a in args)
    result = cli(app, *args)
    assert result.exit_code == 1
    assert message in result.stderr


# --- the partner's queue page -----------------------------------------------------------------------


@pytest.fixture
def pending(db, partner, make_account, make_assignment, ready_asset):
    return make_assignment(make_account(partner), ready_asset, status="pending")


def test_queue_page_shows_the_partners_assignments_with_the_post_url(
    partner_client, db, make_account, partner, make_assignment, ready_asset
):
    make_assignment(
        make_account(partner), ready_asset, status="posted", external_url="https://www.reddit.com/r/x/p1/"
    )
    page = partner_client.get("/publish/queue").get_data(as_text=True)
    assert "Trois outils IA" in page
    assert 'href="https://www.reddit.com/r/x/p1/"' in page


def test_queue_partial_for_htmx_is_the_partial_alone(partner_client, pending):
    response = partner_client.get("/publish/queue", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="publish-queue"')
    assert "HX-Request" in response.headers["Vary"]


def test_queue_keeps_polling_while_a_post_is_on_its_way_and_stops_after(partner_client, db, pending):
    pending.status = "approved"
    db.session.commit()
    headers = {"HX-Request": "true", "HX-Trigger": "publish-queue"}
    moving = partner_client.get("/publish/queue", headers=headers)
    assert moving.status_code == 200
    assert 'hx-trigger="every 5s"' in moving.get_data(as_text=True)
    pending.status = "posted"
    db.session.commit()
    assert partner_client.get("/publish/queue", headers=headers).status_code == 286


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_partner_approves_a_pending_assignment(partner_client, db, pending, is_htmx):
    token = csrf_token_of(partner_client, "/publish/queue")
    headers = {"HX-Request": "true"} if is_htmx else {}
    response = partner_client.post(
        f"/publish/queue/{pending.id}/approve", data={"csrf_token": token}, headers=headers
    )
    assert response.status_code == (200 if is_htmx else 303)
    assert assignments(db)[0].status == "approved"


def test_partner_skips_an_assignment(partner_client, db, pending):
    token = csrf_token_of(partner_client, "/publish/queue")
    partner_client.post(f"/publish/queue/{pending.id}/skip", data={"csrf_token": token})
    assert assignments(db)[0].status == "skipped"


def test_approving_twice_answers_409(partner_client, db, pending):
    token = csrf_token_of(partner_client, "/publish/queue")
    partner_client.post(f"/publish/queue/{pending.id}/approve", data={"csrf_token": token})
    response = partner_client.post(
        f"/publish/queue/{pending.id}/approve", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert "already scheduled" in response.get_data(as_text=True)


def test_another_partners_assignment_answers_404(client, db, pending, make_partner):
    sign_in(client, make_partner("mallory@example.com"))
    token = csrf_token_of(client, "/publish/queue")
    assert client.post(f"/publish/queue/{pending.id}/approve", data={"csrf_token": token}).status_code == 404
    assert "Trois outils IA" not in client.get("/publish/queue").get_data(as_text=True)
    assert assignments(db)[0].status == "pending"


def test_review_without_csrf_is_refused(partner_client, db, pending):
    assert partner_client.post(f"/publish/queue/{pending.id}/approve").status_code == 400
    assert assignments(db)[0].status == "pending"


# --- the admin's queue ------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("partner", 403), ("admin", 200)])
def test_admin_queue_is_for_admins_only(client, db, partner, admin, who, status):
    if who != "anonymous":
        sign_in(client, partner if who == "partner" else admin)
    assert client.get("/admin/publish/").status_code == status


def test_admin_assigns_an_asset_to_one_partner(admin_client, db, partner, make_account, ready_asset):
    make_account(partner)
    token = csrf_token_of(admin_client, "/admin/publish/")
    response = admin_client.post(
        "/admin/publish/assign",
        data={"asset_id": ready_asset.id, "platform": "reddit", "email": partner.email, "csrf_token": token},
    )
    assert response.status_code == 303
    [made] = assignments(db)
    assert (made.partner_id, made.status) == (partner.id, "pending")
    audit = db.session.scalars(select(AuditLog)).one()
    assert (audit.action, audit.actor) == ("assignment.create", "admin:boss@example.com")


def test_admin_assigns_an_asset_to_every_partner_with_an_account(
    admin_client, db, partner, make_partner, make_account, ready_asset
):
    make_account(partner)
    make_account(make_partner("two@example.com"), handle="two")
    make_partner("no-account@example.com")
    token = csrf_token_of(admin_client, "/admin/publish/")
    response = admin_client.post(
        "/admin/publish/assign",
        data={"asset_id": ready_asset.id, "platform": "reddit", "email": "", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "2 assignment(s) made, 0 skipped." in response.get_data(as_text=True)
    assert len(assignments(db)) == 2


def test_admin_assigning_an_unknown_asset_answers_404_and_makes_nothing(
    admin_client, db, partner, make_account
):
    make_account(partner)
    token = csrf_token_of(admin_client, "/admin/publish/")
    response = admin_client.post(
        "/admin/publish/assign",
        data={"asset_id": "nope", "platform": "reddit", "email": "", "csrf_token": token},
    )
    assert response.status_code == 404
    assert assignments(db) == []


@pytest.mark.parametrize("status", ["failed", "needs_review"])
def test_admin_retries_a_failed_or_unsure_assignment(
    admin_client, db, partner, make_account, make_assignment, ready_asset, status
):
    assignment = make_assignment(
        make_account(partner), ready_asset, status=status, attempts=5, last_error="boom"
    )
    token = csrf_token_of(admin_client, "/admin/publish/")
    assert (
        admin_client.post(f"/admin/publish/{assignment.id}/retry", data={"csrf_token": token}).status_code
        == 303
    )
    [again] = assignments(db)
    assert (again.status, again.attempts) == ("approved", 0)


def test_admin_cancels_an_approved_assignment_but_not_a_posted_one(
    admin_client, db, partner, make_account, make_assignment, ready_asset, make_asset, make_offer
):
    account = make_account(partner)
    approved = make_assignment(account, ready_asset)
    posted = make_assignment(account, make_asset("Other", offer=make_offer("Other offer")), status="posted")
    token = csrf_token_of(admin_client, "/admin/publish/")
    assert (
        admin_client.post(f"/admin/publish/{approved.id}/cancel", data={"csrf_token": token}).status_code
        == 303
    )
    assert (
        admin_client.post(f"/admin/publish/{posted.id}/cancel", data={"csrf_token": token}).status_code == 409
    )
    assert [a.status for a in assignments(db)] == ["skipped", "posted"]


def test_admin_actions_need_csrf(admin_client, db, partner, make_account, make_assignment, ready_asset):
    assignment = make_assignment(make_account(partner), ready_asset, status="failed")
    assert admin_client.post(f"/admin/publish/{assignment.id}/retry").status_code == 400
    assert assignments(db)[0].status == "failed"


def test_admin_queue_polls_while_posts_are_on_their_way_and_stops_after(
    admin_client, db, partner, make_account, make_assignment, ready_asset
):
    assignment = make_assignment(make_account(partner), ready_asset, status="posting")
    headers = {"HX-Request": "true", "HX-Trigger": "publish-admin-rows"}
    moving = admin_client.get("/admin/publish/", headers=headers)
    assert moving.status_code == 200
    assert 'hx-trigger="every 5s"' in moving.get_data(as_text=True)
    assignment.status = "posted"
    db.session.commit()
    assert admin_client.get("/admin/publish/", headers=headers).status_code == 286


# --- the job from the CLI ---------------------------------------------------------------------------


def test_publish_due_is_listed_and_runs_from_the_cli(app, db):
    listed = app.test_cli_runner().invoke(args=["jobs", "list"])
    [line] = [line for line in listed.stdout.splitlines() if line.startswith("publish_due\t")]
    assert line == "publish_due\tqueue=publish\tpublish\tevery 0:01:00"
    ran = app.test_cli_runner().invoke(args=["jobs", "run", "publish_due"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip().splitlines()[-1] == "publish_due: nothing due"
