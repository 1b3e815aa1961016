"""The one Alembic history builds exactly the models' schema, both ways, and the database itself
enforces every "once" rule (a Python check alone would lose a race)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db as _db
from contentflow.models import Assignment, Conversion, LedgerEntry, Offer, Partner, ShortLink
from contentflow.plugin import import_models, plugin_registry
from tests.conftest import DATABASE_URL

OFFER_URL = "https://acme.example.net/go?sub={subid}"


def full_metadata() -> sa.MetaData:
    """Core and every declared plugin's models, as the app factory and ``migrations/env.py`` load them
    (flags never gate schema)."""
    import_models(plugin_registry())
    return _db.metadata


def schema_differences(connection: sa.Connection) -> list:
    """What ``flask db migrate`` would generate: nothing is ignored, types and defaults included."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, full_metadata())


def check_constraint_names(connection: sa.Connection) -> dict[str, set[str]]:
    """Alembic's comparison skips CHECK constraints, so they are compared here, by name only: PostgreSQL
    stores its own rewrite of each expression (``IN`` becomes ``= ANY (ARRAY[...])``), so the text
    cannot be compared; the behaviour of each "once" rule is tested below instead."""
    inspector = sa.inspect(connection)
    return {
        table: {ck["name"] for ck in inspector.get_check_constraints(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def model_check_constraint_names() -> dict[str, set[str]]:
    return {
        table.name: {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        for table in full_metadata().sorted_tables
    }


# --- the history matches the models ---------------------------------------------------------------


def test_migrated_database_matches_the_models(app):
    with app.app_context(), _db.engine.connect() as connection:
        assert schema_differences(connection) == []


def test_migrated_database_has_the_models_check_constraints(app):
    with app.app_context(), _db.engine.connect() as connection:
        assert check_constraint_names(connection) == model_check_constraint_names()


def test_migrations_have_a_single_head(make_app):
    """The one history of the core and the real plugins; only the test fixture plugin adds its branch."""
    from alembic.script import ScriptDirectory

    with make_app(MIGRATION_EXTRA_LOCATIONS=[]).app_context() as context:
        config = context.app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_the_fixture_plugins_branch_is_the_only_other_head(app):
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 2
    assert "sample_0001" in heads


def test_clicks_credited_before_the_accrual_batch_existed_are_marked(make_app, tmp_path):
    """Migration 0003 marks the clicks of days already credited, so the new accrual never pays twice."""
    application = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    with application.app_context():
        try:
            upgrade(revision="0002")
            with _db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO partners (id, email, display_name, locale, status, session_epoch, "
                        "created_at) VALUES ('p1', 'p@example.com', '', 'fr', 'active', 0, '2026-03-01');"
                    )
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO assets (id, title, description, hashtags, cta, status, created_at, "
                        "updated_at) VALUES ('a1', 't', '', '', '', 'ready', '2026-03-01', '2026-03-01')"
                    )
                )
                for click_id, day in (("c1", "2026-03-17"), ("c2", "2026-03-18")):
                    connection.execute(
                        sa.text(
                            "INSERT INTO clicks (id, partner_id, asset_id, cpc_cents, created_at, ip_hash, "
                            "visitor_hash, user_agent, referrer, is_bot, is_billable) VALUES "
                            f"('{click_id}', 'p1', 'a1', 12, '{day} 10:00:00', 'x', 'y', '', '', 0, 1)"
                        )
                    )
                connection.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (partner_id, kind, amount_cents, idempotency_key, memo, "
                        "created_at) VALUES ('p1', 'click_earnings', 12, 'cpc:p1:none:2026-03-17', '', "
                        "'2026-03-18 00:20:00')"
                    )
                )
            upgrade(revision="heads")
            with _db.engine.connect() as connection:
                marks = dict(connection.execute(sa.text("SELECT id, accrual_batch FROM clicks")).all())
            assert marks == {"c1": "legacy", "c2": None}
        finally:
            _db.engine.dispose()


@pytest.fixture
def empty_postgresql_url() -> Iterator[str]:
    """A throwaway schema in the test database, put first on the search path; dropped after."""
    if not DATABASE_URL.startswith("postgresql"):
        pytest.skip("the session database is not PostgreSQL")
    schema = f"migration_roundtrip_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in DATABASE_URL else "?"
    try:
        yield f"{DATABASE_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def roundtrip(application: Flask) -> None:
    """Upgrade, downgrade to base (nothing left but Alembic's own table), upgrade again to the models."""
    with application.app_context():
        try:
            upgrade(revision="heads")
            downgrade(revision="base")
            with _db.engine.connect() as connection:
                assert set(sa.inspect(connection).get_table_names()) == {"alembic_version"}
            upgrade(revision="heads")
            with _db.engine.connect() as connection:
                assert schema_differences(connection) == []
                assert check_constraint_names(connection) == model_check_constraint_names()
        finally:
            _db.engine.dispose()


def test_downgrade_to_base_then_upgrade_to_head_works_on_sqlite(make_app, tmp_path):
    roundtrip(make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'm.db'}"))


def test_downgrade_to_base_then_upgrade_to_head_works_on_postgresql(make_app, empty_postgresql_url):
    roundtrip(make_app(DATABASE_URL=empty_postgresql_url))


# --- the database enforces the "once" rules -------------------------------------------------------


def flush_rejected(db, *rows) -> None:
    """Assert the database refuses ``rows``; the test's session stays usable."""
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add_all(rows)
        db.session.flush()


def test_partner_email_in_mixed_case_is_refused(db):
    flush_rejected(db, Partner(email="Pat@Example.com"))


def test_partner_email_taken_is_refused(db, make_partner):
    make_partner("pat@example.com")

    flush_rejected(db, Partner(email="pat@example.com"))


def test_second_conversion_with_the_same_network_and_txn_id_is_refused(db, make_network):
    network = make_network("acme")
    db.session.add(Conversion(network_id=network.id, txn_id="T-1", amount_minor=1000))
    db.session.flush()

    flush_rejected(db, Conversion(network_id=network.id, txn_id="T-1", amount_minor=1000))


def test_same_txn_id_from_another_network_is_accepted(db, make_network):
    acme, other = make_network("acme"), make_network("other")
    db.session.add_all(
        [
            Conversion(network_id=acme.id, txn_id="T-1", amount_minor=1000),
            Conversion(network_id=other.id, txn_id="T-1", amount_minor=1000),
        ]
    )

    db.session.flush()


def test_second_ledger_entry_with_the_same_idempotency_key_is_refused(db, partner):
    db.session.add(
        LedgerEntry(partner_id=partner.id, kind="adjustment", amount_cents=100, idempotency_key="k")
    )
    db.session.flush()

    flush_rejected(
        db, LedgerEntry(partner_id=partner.id, kind="adjustment", amount_cents=100, idempotency_key="k")
    )


def test_ledger_entry_of_zero_cents_is_refused(db, partner):
    flush_rejected(
        db, LedgerEntry(partner_id=partner.id, kind="adjustment", amount_cents=0, idempotency_key="z")
    )


def test_second_short_link_for_the_same_partner_and_asset_is_refused(db, partner, make_asset):
    asset = make_asset()
    db.session.add(ShortLink(code="first", partner_id=partner.id, asset_id=asset.id))
    db.session.flush()

    flush_rejected(db, ShortLink(code="second", partner_id=partner.id, asset_id=asset.id))


def assignment(partner, asset, status: str, platform: str = "youtube") -> Assignment:
    return Assignment(asset_id=asset.id, partner_id=partner.id, platform=platform, status=status)


@pytest.mark.parametrize("second", ["pending", "approved", "posting", "posted"])
def test_second_live_assignment_for_the_same_asset_partner_and_platform_is_refused(
    db, partner, make_asset, second
):
    asset = make_asset()
    db.session.add(assignment(partner, asset, "approved"))
    db.session.flush()

    flush_rejected(db, assignment(partner, asset, second))


def test_failed_and_skipped_assignments_coexist_with_a_live_one(db, partner, make_asset):
    asset = make_asset()
    db.session.add_all(
        [
            assignment(partner, asset, "failed"),
            assignment(partner, asset, "failed"),
            assignment(partner, asset, "skipped"),
            assignment(partner, asset, "pending"),
            assignment(partner, asset, "pending", platform="reddit"),
        ]
    )

    db.session.flush()


@pytest.mark.parametrize(
    "url", ["https://acme.example.net/go", "https://acme.example.net/go?sub={SUBID}", "https://x/{sub id}"]
)
def test_offer_url_without_subid_macro_is_refused(db, make_network, url):
    network = make_network("acme")

    flush_rejected(db, Offer(name="Acme", network_id=network.id, url_template=url, cpc_cents=12))


def test_offer_url_with_subid_macro_is_accepted(db, make_network):
    network = make_network("acme")
    db.session.add(Offer(name="Acme", network_id=network.id, url_template=OFFER_URL, cpc_cents=12))

    db.session.flush()
