"""``publish_due``: approved assignments posted to a fake Reddit over real HTTP, once each, inside caps and
intervals, never for a partner on hold; retries, reconnection, failures and the reconciliation of posts
left behind by a dead worker. Time is passed in, never slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from contentflow.models import Assignment
from contentflow.services import holds
from plugins.publish.jobs import publish_due
from plugins.publish.models import AccountSettings
from plugins.publish.services import posting
from tests.publish.conftest import REDDIT_TOKEN_PATH

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def run(app, now: datetime = NOW) -> str:
    with app.app_context():
        return publish_due(now.isoformat())


def reload(db, assignment: Assignment) -> Assignment:
    db.session.expire_all()
    return db.session.get(Assignment, assignment.id)


@pytest.fixture
def account(make_account, partner):
    return make_account(partner, token_expires_at=NOW + timedelta(days=30))


@pytest.fixture
def due(make_assignment, account, ready_asset):
    return make_assignment(account, ready_asset, planned_at=NOW - timedelta(minutes=1))


def test_due_assignment_is_posted_as_a_link_post_with_the_short_link_and_ad(
    app_on_fake, db, due, fake_reddit, httpserver
):
    assert run(app_on_fake) == "publish_due: 1 posted"
    [form] = fake_reddit.submissions
    assert form["kind"] == "link"
    assert form["sr"] == "u_pat_r"
    assert form["title"] == "Trois outils IA #ad"
    assert form["url"].startswith("https://cf.example.org/l/")
    [(submit, _)] = [entry for entry in httpserver.log if entry[0].path == "/api/submit"]
    assert submit.headers["Authorization"] == "Bearer access-1"
    posted = reload(db, due)
    assert (posted.status, posted.external_post_id) == ("posted", "t3_p1")
    assert posted.external_url == "https://www.reddit.com/r/x/comments/p1/"
    assert posted.posted_at == NOW and posted.attempts == 1


def test_a_second_run_posts_nothing_more(app_on_fake, db, due, fake_reddit):
    run(app_on_fake)
    assert run(app_on_fake, NOW + timedelta(minutes=1)) == "publish_due: nothing due"
    assert len(fake_reddit.submissions) == 1


def test_an_assignment_not_due_yet_waits(app_on_fake, db, make_assignment, account, ready_asset, fake_reddit):
    make_assignment(account, ready_asset, planned_at=NOW + timedelta(hours=1))
    assert run(app_on_fake) == "publish_due: nothing due"
    assert fake_reddit.submissions == []


def test_a_pending_assignment_waits_for_the_partners_review(
    app_on_fake, db, make_assignment, account, ready_asset, fake_reddit
):
    make_assignment(account, ready_asset, status="pending")
    run(app_on_fake)
    assert fake_reddit.submissions == []


def test_the_posts_target_subreddit_is_the_accounts_setting(app_on_fake, db, due, account, fake_reddit):
    db.session.add(AccountSettings(account_id=account.id, target="sidehustle"))
    db.session.commit()
    run(app_on_fake)
    assert fake_reddit.submissions[0]["sr"] == "sidehustle"


def test_a_partner_on_hold_is_not_posted_until_the_hold_ends(app_on_fake, db, due, partner, fake_reddit):
    holds.place_hold(partner.id, "velocity", source="risk", days=1, now=NOW - timedelta(hours=1))
    db.session.commit()
    run(app_on_fake)
    assert fake_reddit.submissions == []
    assert reload(db, due).status == "approved"
    run(app_on_fake, NOW + timedelta(days=1))
    assert reload(db, due).status == "posted"


def test_the_daily_cap_defers_the_next_post_to_when_the_rolling_day_frees_up(
    app_on_fake, db, account, make_assignment, make_asset, make_offer, fake_reddit
):
    account.daily_cap, account.min_interval_minutes = 1, 0
    db.session.commit()
    offer = make_offer()
    first = make_assignment(account, make_asset("One", offer=offer))
    second = make_assignment(account, make_asset("Two", offer=offer))
    assert run(app_on_fake) == "publish_due: 1 posted"
    waiting = reload(db, second)
    assert waiting.status == "approved"
    assert waiting.planned_at == NOW + timedelta(hours=24)
    run(app_on_fake, NOW + timedelta(hours=23))
    assert len(fake_reddit.submissions) == 1
    run(app_on_fake, NOW + timedelta(hours=24, minutes=1))
    assert [reload(db, a).status for a in (first, second)] == ["posted", "posted"]


def test_the_minimum_interval_spaces_two_posts(
    app_on_fake, db, account, make_assignment, make_asset, make_offer, fake_reddit
):
    account.daily_cap, account.min_interval_minutes = 10, 90
    db.session.commit()
    offer = make_offer()
    make_assignment(account, make_asset("One", offer=offer))
    second = make_assignment(account, make_asset("Two", offer=offer))
    run(app_on_fake)
    assert reload(db, second).planned_at == NOW + timedelta(minutes=90)
    run(app_on_fake, NOW + timedelta(minutes=90))
    assert reload(db, second).status == "posted"


def test_a_platform_error_on_the_submit_is_checked_again_before_any_retry(app_on_fake, db, due, fake_reddit):
    fake_reddit.refusal = (503, "busy")
    assert run(app_on_fake) == "publish_due: 1 unknown"  # looked up at once: not listed (yet)
    assert reload(db, due).status == "posting"
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 retry"  # still not there
    waiting = reload(db, due)
    assert waiting.status == "approved"
    assert waiting.planned_at > NOW + timedelta(minutes=31)
    fake_reddit.refusal = None
    run(app_on_fake, NOW + timedelta(hours=2))
    assert reload(db, due).status == "posted"
    assert len(fake_reddit.submissions) == 1


def test_a_platform_error_before_the_post_is_retried_with_back_off(
    app_on_fake, db, due, account, fake_reddit, httpserver
):
    account.token_expires_at = NOW  # the refresh comes first, and fails: nothing was sent to post
    db.session.commit()
    httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_data("busy", status=503)
    assert run(app_on_fake) == "publish_due: 1 retry"
    waiting = reload(db, due)
    assert (waiting.status, waiting.planned_at) == ("approved", NOW + timedelta(minutes=1))
    assert fake_reddit.submissions == []


def test_rate_limiting_waits_as_long_as_reddit_says(app_on_fake, db, due, fake_reddit):
    fake_reddit.refusal = (
        200,
        {"json": {"errors": [["RATELIMIT", "take a break for 9 minutes", "ratelimit"]]}},
    )
    assert run(app_on_fake) == "publish_due: 1 retry"
    waiting = reload(db, due)
    assert waiting.planned_at == NOW + timedelta(minutes=9)
    assert fake_reddit.submissions == []


def test_a_refused_post_fails_with_reddits_reason(app_on_fake, db, due, fake_reddit):
    fake_reddit.refusal = (
        200,
        {"json": {"errors": [["SUBREDDIT_NOEXIST", "that subreddit doesn't exist", "sr"]]}},
    )
    assert run(app_on_fake) == "publish_due: 1 failed"
    failed = reload(db, due)
    assert failed.status == "failed"
    assert "that subreddit doesn't exist" in failed.last_error


def test_a_refused_token_asks_the_partner_to_reconnect_and_posts_nothing_there(
    app_on_fake, db, due, account, fake_reddit
):
    fake_reddit.refusal = (401, {"message": "Unauthorized"})
    assert run(app_on_fake) == "publish_due: 1 reconnect"
    settings = db.session.get(AccountSettings, account.id)
    db.session.refresh(settings)
    assert settings.needs_reconnect is True
    waiting = reload(db, due)
    assert (waiting.status, waiting.attempts) == ("approved", 0)
    fake_reddit.refusal = None
    assert run(app_on_fake, NOW + timedelta(hours=1)) == "publish_due: nothing due"


def test_too_many_attempts_fail_the_assignment(app_on_fake, db, due, fake_reddit):
    fake_reddit.refusal = (429, "slow down")
    moment = NOW
    for _ in range(5):
        run(app_on_fake, moment)
        moment += timedelta(hours=2)
    failed = reload(db, due)
    assert failed.status == "failed"
    assert failed.last_error.startswith("gave up after 5 attempts")


def test_an_expiring_token_is_refreshed_before_posting(
    app_on_fake, db, account, due, fake_reddit, httpserver
):
    account.token_expires_at = NOW + timedelta(minutes=2)
    db.session.commit()
    httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_json(
        {"access_token": "access-2", "token_type": "bearer", "expires_in": 3600}
    )
    run(app_on_fake)
    [(refresh, _)] = [entry for entry in httpserver.log if entry[0].path == REDDIT_TOKEN_PATH]
    assert refresh.form["grant_type"] == "refresh_token"
    assert refresh.form["refresh_token"] == "refresh-1"
    [(submit, _)] = [entry for entry in httpserver.log if entry[0].path == "/api/submit"]
    assert submit.headers["Authorization"] == "Bearer access-2"
    db.session.expire_all()
    assert (account.access_token, account.refresh_token) == ("access-2", "refresh-1")


def test_a_failed_refresh_marks_the_account_and_posts_nothing(
    app_on_fake, db, account, due, fake_reddit, httpserver
):
    account.token_expires_at = NOW - timedelta(minutes=1)
    db.session.commit()
    httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_json(
        {"error": "invalid_grant"}, status=400
    )
    assert run(app_on_fake) == "publish_due: 1 reconnect"
    assert fake_reddit.submissions == []
    assert db.session.get(AccountSettings, account.id).needs_reconnect is True


def test_a_quarantined_assets_assignments_are_skipped_never_posted(
    app_on_fake, db, due, ready_asset, fake_reddit
):
    ready_asset.status = "quarantined"
    db.session.commit()
    assert run(app_on_fake).endswith("1 unpostable settled")
    assert reload(db, due).status == "skipped"
    assert fake_reddit.submissions == []


def test_a_disabled_account_posts_nothing(app_on_fake, db, due, account, fake_reddit):
    account.enabled = False
    db.session.commit()
    run(app_on_fake)
    assert fake_reddit.submissions == []


# --- a post whose outcome is unknown ---------------------------------------------------------------


def test_a_submit_that_may_have_reached_reddit_is_looked_up_before_any_retry(
    app_on_fake, db, due, fake_reddit, monkeypatch
):
    from plugins.publish.publishers import base

    real_call = base.call

    def submit_then_time_out(method, url, **kwargs):
        answer = real_call(method, url, **kwargs)
        if url.endswith("/api/submit"):
            raise base.TransientError("the platform did not answer in time", maybe_posted=True)
        return answer

    monkeypatch.setattr("plugins.publish.publishers.reddit.call", submit_then_time_out)
    assert run(app_on_fake) == "publish_due: 1 posted"
    assert len(fake_reddit.submissions) == 1
    assert reload(db, due).external_post_id == "t3_p1"


def test_a_post_left_posting_by_a_dead_worker_is_found_not_posted_again(app_on_fake, db, due, fake_reddit):
    with app_on_fake.app_context():
        claimed = posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
        post = posting.build_post(
            app_db.session.get(Assignment, claimed.assignment_id), due_asset(app_db, due), None
        )
        app_db.session.commit()  # the partner's short link, as the dead worker made it
    fake_reddit.submissions.append({"url": post.link})  # the dead worker's submission reached Reddit
    assert run(app_on_fake, NOW + timedelta(minutes=10)) == "publish_due: nothing due"  # not yet timed out
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 posted"
    assert len(fake_reddit.submissions) == 1
    assert reload(db, due).external_post_id == "t3_p1"


def test_a_post_left_posting_that_is_not_on_reddit_goes_back_to_the_queue(app_on_fake, db, due, fake_reddit):
    with app_on_fake.app_context():
        posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 retry"
    later = reload(db, due)
    assert (later.status, later.planned_at) == ("approved", NOW + timedelta(minutes=32))
    assert fake_reddit.submissions == []  # the retry waits its back-off: posted at a later run
    run(app_on_fake, NOW + timedelta(minutes=32))
    assert len(fake_reddit.submissions) == 1


def test_a_post_left_posting_on_a_platform_that_cannot_be_searched_waits_for_an_admin(
    app_on_fake, db, due, fake_reddit, monkeypatch
):
    from plugins.publish.publishers import base

    def cannot_find(post, account, platform):
        raise base.CannotFind("no search")

    monkeypatch.setattr("plugins.publish.publishers.reddit.find", cannot_find)
    with app_on_fake.app_context():
        posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
    run(app_on_fake, NOW + timedelta(minutes=31))
    assert reload(db, due).status == "needs_review"
    assert fake_reddit.submissions == []


def due_asset(app_db, assignment):
    from contentflow.models import Asset

    return app_db.session.get(Asset, assignment.asset_id)


# --- a token refresh answered oddly ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "outcome", "why"),
    [
        ("<html>gateway</html>", 200, "retry", "not readable"),
        ('{"token_type": "bearer"}', 200, "reconnect", "without an access token"),
        ('{"message": "Too Many Requests", "error": 429}', 429, "retry", "rate limited"),
        ("<html>no</html>", 401, "reconnect", "HTTP 401"),
    ],
    ids=["not-json", "no-token", "rate-limited", "refused-as-a-page"],
)
def test_a_refresh_answered_oddly_ends_in_a_recorded_state_and_posts_nothing(
    app_on_fake, db, account, due, fake_reddit, httpserver, body, status, outcome, why
):
    account.token_expires_at = NOW - timedelta(minutes=1)
    db.session.commit()
    httpserver.expect_request(REDDIT_TOKEN_PATH, method="POST").respond_with_data(
        body, status=status, content_type="application/json"
    )
    assert run(app_on_fake) == f"publish_due: 1 {outcome}"
    waiting = reload(db, due)
    assert (waiting.status, waiting.posting_started_at) == ("approved", None)
    assert why in waiting.last_error
    settings = db.session.get(AccountSettings, account.id)
    db.session.refresh(settings)
    assert settings.needs_reconnect is (outcome == "reconnect")
    assert fake_reddit.submissions == []


def test_a_post_left_posting_whose_look_up_cannot_be_read_waits_for_an_admin(
    app_on_fake, db, due, fake_reddit, httpserver
):
    with app_on_fake.app_context():
        posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
    httpserver.clear_all_handlers()
    httpserver.expect_request("/user/pat_r/submitted").respond_with_data("<html>", content_type="text/html")
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 review"
    stuck = reload(db, due)
    assert stuck.status == "needs_review"
    assert "not readable" in stuck.last_error
    assert fake_reddit.submissions == []


def test_a_bug_while_reconciling_one_post_does_not_stop_the_others(
    app_on_fake, db, account, due, make_assignment, make_asset, ready_asset, fake_reddit, monkeypatch
):
    account.daily_cap = 10
    db.session.commit()
    with app_on_fake.app_context():
        posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
    other = make_assignment(account, make_asset("Other", offer=ready_asset.offer), planned_at=NOW)
    real_find = posting.publisher("reddit").find

    def find_with_a_bug(post, credentials, platform):
        if post.assignment_id == due.id:
            raise KeyError("a bug")
        return real_find(post, credentials, platform)

    monkeypatch.setattr("plugins.publish.publishers.reddit.find", find_with_a_bug)
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 posted, 1 review"
    assert reload(db, due).status == "needs_review"
    assert reload(db, other).status == "posted"
    assert len(fake_reddit.submissions) == 1


def test_a_post_left_posting_on_a_platform_that_stays_down_is_looked_up_for_a_day_then_reviewed(
    app_on_fake, db, due, fake_reddit, httpserver
):
    with app_on_fake.app_context():
        posting.claim_next(now=NOW)
        from contentflow.extensions import db as app_db

        app_db.session.commit()
    httpserver.clear_all_handlers()
    httpserver.expect_request("/user/pat_r/submitted").respond_with_data("down", status=503)
    assert run(app_on_fake, NOW + timedelta(minutes=31)) == "publish_due: 1 later"
    assert run(app_on_fake, NOW + timedelta(hours=23)) == "publish_due: 1 later"
    assert reload(db, due).status == "posting"
    assert run(app_on_fake, NOW + timedelta(hours=24, minutes=1)) == "publish_due: 1 review"
    stuck = reload(db, due)
    assert stuck.status == "needs_review"
    assert "could not be looked up: the platform answered 503" in stuck.last_error
    assert fake_reddit.submissions == []


def test_the_claim_is_a_conditional_update_so_an_assignment_taken_meanwhile_is_left_alone(
    app_on_fake, db, due, monkeypatch
):
    """Row locks make this impossible on PostgreSQL; the conditional UPDATE is what also holds on a
    database whose locking is coarser (SQLite) or a read that went stale."""
    from contentflow.extensions import db as app_db

    def taken_by_another_worker(partner_id, *, now):
        app_db.session.execute(sa.update(Assignment).where(Assignment.id == due.id).values(status="posting"))
        return False

    monkeypatch.setattr(holds, "is_on_hold", taken_by_another_worker)
    with app_on_fake.app_context():
        assert posting.claim_next(now=NOW) is None
        app_db.session.rollback()
