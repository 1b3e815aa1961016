"""Migration 0007 gives every existing partner a distinct referral code; the referral bonus also works on
the first-run database (SQLite), whose date arithmetic differs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask_migrate import upgrade

from contentflow.extensions import db as _db
from tests.test_migrations import empty_postgresql_url  # noqa: F401 - the fixture

PARTNERS = (
    "INSERT INTO partners (id, email, display_name, locale, status, session_epoch, created_at) VALUES "
    "('p1', 'a@example.com', '', 'fr', 'active', 0, '2026-03-01'), "
    "('p2', 'b@example.com', '', 'fr', 'active', 0, '2026-03-01'), "
    "('p3', 'c@example.com', '', 'fr', 'active', 0, '2026-03-01')"
)

TOKEN = (
    "INSERT INTO magic_link_tokens (token_hash, partner_id, email, created_at, expires_at) VALUES "
    "('h', 'p1', 'a@example.com', '2026-03-01', '2026-03-01')"
)


def codes_after_upgrade(application) -> dict[str, str]:
    with application.app_context():
        try:
            upgrade(revision="0005")
            with _db.engine.begin() as connection:
                connection.execute(sa.text(PARTNERS))
                connection.execute(
                    sa.text(TOKEN)
                )  # a row referencing a partner: SQLite must copy the table anyway
            upgrade(revision="heads")
            with _db.engine.connect() as connection:
                return dict(connection.execute(sa.text("SELECT id, referral_code FROM partners")).all())
        finally:
            _db.engine.dispose()


def assert_distinct_codes(codes: dict[str, str]) -> None:
    assert set(codes) == {"p1", "p2", "p3"}
    assert all(re.fullmatch(r"[a-z0-9]{10}", code) for code in codes.values())
    assert len(set(codes.values())) == 3
    assert not set(codes) & set(codes.values())


def test_existing_partners_get_distinct_codes_on_sqlite(make_app, tmp_path):
    assert_distinct_codes(codes_after_upgrade(make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}")))


def test_existing_partners_get_distinct_codes_on_postgresql(make_app, empty_postgresql_url):  # noqa: F811
    assert_distinct_codes(codes_after_upgrade(make_app(DATABASE_URL=empty_postgresql_url)))


def test_referral_bonus_window_holds_on_sqlite(make_app, tmp_path):
    from contentflow.models import LedgerEntry, Partner
    from contentflow.services import ledger
    from plugins.earnings.services import referrals

    application = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}")
    joined = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with application.app_context():
        try:
            upgrade(revision="heads")
            referrer = Partner(email="ref@example.com")
            _db.session.add(referrer)
            _db.session.flush()
            referred = Partner(email="new@example.com", referrer_id=referrer.id, created_at=joined)
            _db.session.add(referred)
            _db.session.flush()
            for key, seconds in (("in", 7 * 86400 - 1), ("out", 7 * 86400)):
                ledger.record_entry(
                    referred.id, "click_earnings", 1_000, key, created_at=joined + timedelta(seconds=seconds)
                )

            assert referrals.award_bonuses(now=joined + timedelta(days=30)) == 1
            assert _db.session.scalars(
                sa.select(LedgerEntry.amount_cents).where(LedgerEntry.kind == "referral_bonus")
            ).all() == [100]
            _db.session.rollback()
        finally:
            _db.session.remove()
            _db.engine.dispose()
