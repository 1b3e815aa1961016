"""Operator CLI: every command's result is the last line of stdout; errors exit 1 with a message."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text

from contentflow.extensions import db as _db
from contentflow.models import (
    AdminUser,
    Asset,
    AuditLog,
    Click,
    Conversion,
    LedgerEntry,
    MagicLinkToken,
    Network,
    Offer,
    Partner,
    ShortLink,
)
from contentflow.models.base import utcnow
from contentflow.money import from_cents, to_cents
from contentflow.queueing import get_queue
from contentflow.security import check_password
from contentflow.services import magic_links

PASSWORD = "a long enough password"
OFFER_URL = "https://acme.example.net/go?sub={subid}"


@pytest.fixture
def cli(app, db):
    """Run ``flask <args>`` in the test's transaction; returns click's Result.

    What the test set up is committed first, as it would be before a real run: a command that fails
    rolls back its own work only.
    """
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        db.session.commit()
        # The CLI speaks DEFAULT_LOCALE (French); these tests read its English messages.
        with force_locale("en"):
            return runner.invoke(args=list(args), input=input)

    return invoke


def last_line(result) -> str:
    assert result.stdout.strip(), result.output
    return result.stdout.strip().splitlines()[-1]


def audit_actions(db, target_type: str) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).where(AuditLog.target_type == target_type)))


# --- users create-admin ---------------------------------------------------------------------------


def test_create_admin_stores_a_password_hash_not_the_password(cli, db):
    result = cli("users", "create-admin", "Boss@Example.com", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert last_line(result) == "admin created: boss@example.com"
    admin = db.session.scalar(select(AdminUser).where(AdminUser.email == "boss@example.com"))
    assert admin.password_hash != PASSWORD
    assert PASSWORD not in admin.password_hash
    assert check_password(admin.password_hash, PASSWORD)


def test_create_admin_is_audit_logged(cli, db):
    cli("users", "create-admin", "boss@example.com", "--password", PASSWORD)

    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "admin.create"))
    assert entry.actor == "cli"
    assert entry.target_type == "admin"
    assert entry.details == {"email": "boss@example.com"}


def test_create_admin_without_password_option_prompts_twice(cli, db):
    result = cli("users", "create-admin", "boss@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output  # hidden input
    assert last_line(result) == "admin created: boss@example.com"


def test_create_admin_prompts_again_when_the_two_entries_differ(cli, db):
    entries = f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n"

    result = cli("users", "create-admin", "boss@example.com", input=entries)

    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    admin = db.session.scalar(select(AdminUser).where(AdminUser.email == "boss@example.com"))
    assert check_password(admin.password_hash, PASSWORD)


def test_create_admin_with_short_password_exits_1_with_the_reason(cli, db):
    result = cli("users", "create-admin", "boss@example.com", "--password", "short")

    assert result.exit_code == 1
    assert "at least 12 characters" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 0
    assert audit_actions(db, "admin") == []


def test_create_admin_with_taken_email_exits_1(cli, db, admin):
    result = cli("users", "create-admin", "BOSS@example.com", "--password", PASSWORD)

    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 1


def test_create_admin_with_malformed_email_exits_1(cli, db):
    result = cli("users", "create-admin", "not-an-email", "--password", PASSWORD)

    assert result.exit_code == 1
    assert "not valid" in result.stderr


# --- partners login-link --------------------------------------------------------------------------


def test_login_link_creates_a_new_partner_and_prints_a_link_that_signs_in(cli, db):
    result = cli("partners", "login-link", "New.Partner@Example.com")

    assert result.exit_code == 0, result.output
    url = last_line(result)
    assert url.startswith("https://cf.example.org/partner/login?token=")
    partner = db.session.scalar(select(Partner).where(Partner.email == "new.partner@example.com"))
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert magic_links.check_token(token).partner_id == partner.id
    assert audit_actions(db, "partner") == ["partner.create", "partner.login_link"]


def test_login_link_for_an_existing_partner_creates_no_second_partner(cli, db, partner):
    result = cli("partners", "login-link", "PAT@example.com")

    assert result.exit_code == 0, result.output
    token = parse_qs(urlsplit(last_line(result)).query)["token"][0]
    assert magic_links.check_token(token).partner_id == partner.id
    assert db.session.scalar(select(func.count()).select_from(Partner)) == 1
    assert audit_actions(db, "partner") == ["partner.login_link"]


def test_login_link_stores_only_the_token_hash(cli, db):
    url = last_line(cli("partners", "login-link", "pat@example.com"))

    token = parse_qs(urlsplit(url).query)["token"][0]
    assert db.session.scalar(select(MagicLinkToken.token_hash)) != token


def test_login_link_with_malformed_email_exits_1_with_a_message(cli, db):
    result = cli("partners", "login-link", "pat@@example")

    assert result.exit_code == 1
    assert "not valid" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Partner)) == 0


def test_login_link_for_a_suspended_partner_exits_1(cli, db, make_partner):
    make_partner("gone@example.com", status="suspended")

    result = cli("partners", "login-link", "gone@example.com")

    assert result.exit_code == 1
    assert "suspended" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(MagicLinkToken)) == 0


# --- networks add ---------------------------------------------------------------------------------


def test_add_network_stores_the_secret_encrypted(cli, db):
    result = cli("networks", "add", "acme", "--secret", "s3cret-s3cret-s3cret")

    assert result.exit_code == 0, result.output
    network = db.session.scalar(select(Network).where(Network.name == "acme"))
    assert last_line(result) == f"network acme created (id {network.id})"
    raw = db.session.execute(text("SELECT secret FROM networks WHERE name = 'acme'")).scalar_one()
    assert raw != "s3cret-s3cret-s3cret"
    assert "s3cret" not in raw
    assert network.secret == "s3cret-s3cret-s3cret"
    assert audit_actions(db, "network") == ["network.create"]


def test_add_network_without_secret_option_prompts_hidden(cli, db):
    secret = "prompted-secret-123456"

    result = cli("networks", "add", "acme", input=f"{secret}\n{secret}\n")

    assert result.exit_code == 0, result.output
    assert secret not in result.output
    assert db.session.scalar(select(Network).where(Network.name == "acme")).secret == secret


def test_add_network_twice_exits_1(cli, db, make_network):
    make_network("acme")

    result = cli("networks", "add", "acme", "--secret", "another-secret-123456")

    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert audit_actions(db, "network") == []


def test_add_network_with_short_secret_exits_1(cli, db):
    result = cli("networks", "add", "acme", "--secret", "short")

    assert result.exit_code == 1
    assert "16 characters" in result.stderr


# --- offers add -----------------------------------------------------------------------------------


def test_add_offer_stores_cpc_in_cents_and_share_in_basis_points(cli, db, make_network):
    make_network("acme")

    result = cli(
        "offers", "add", "Acme", "--network", "acme", "--url", OFFER_URL,
        "--cpc-cents", "12", "--revshare-pct", "40",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    offer = db.session.scalar(select(Offer).where(Offer.name == "Acme"))
    assert (offer.cpc_cents, offer.revshare_bps) == (12, 4000)
    assert offer.url_template == OFFER_URL
    assert last_line(result) == f"offer Acme created (id {offer.id})"
    assert audit_actions(db, "offer") == ["offer.create"]


def test_add_offer_takes_a_fractional_percent(cli, db, make_network):
    make_network("acme")

    cli("offers", "add", "Acme", "--network", "acme", "--url", OFFER_URL, "--revshare-pct", "12.5")

    assert db.session.scalar(select(Offer.revshare_bps).where(Offer.name == "Acme")) == 1250


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--url", "https://acme.example.net/go", "--cpc-cents", "12"], "{subid}"),
        (["--url", "acme.example.net/go?s={subid}", "--cpc-cents", "12"], "absolute"),
        (["--url", OFFER_URL], "give one"),
        (["--url", OFFER_URL, "--revshare-pct", "140"], "between 0 and 100"),
        (["--url", OFFER_URL, "--revshare-pct", "forty"], "between 0 and 100"),
        (["--url", OFFER_URL, "--revshare-pct", "12.345"], "basis point"),
        (["--url", "https://acme.example.net/" + "x" * 2050 + "?s={subid}", "--cpc-cents", "1"], "2048"),
    ],
    ids=[
        "no-subid",
        "relative-url",
        "no-terms",
        "share-over-100",
        "share-not-a-number",
        "share-too-fine",
        "long",
    ],
)
def test_add_offer_with_bad_input_exits_1_and_stores_nothing(cli, db, make_network, options, message):
    make_network("acme")

    result = cli("offers", "add", "Acme", "--network", "acme", *options)

    assert result.exit_code == 1
    assert message in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    assert audit_actions(db, "offer") == []


def test_add_offer_of_unknown_network_exits_1(cli, db):
    result = cli("offers", "add", "Acme", "--network", "nope", "--url", OFFER_URL, "--cpc-cents", "12")

    assert result.exit_code == 1
    assert "No network named nope" in result.stderr


def test_add_offer_with_negative_cpc_exits_non_zero(cli, db, make_network):
    make_network("acme")

    result = cli("offers", "add", "Acme", "--network", "acme", "--url", OFFER_URL, "--cpc-cents", "-1")

    assert result.exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0


def test_add_offer_twice_exits_1(cli, db, make_offer):
    make_offer("Acme")

    result = cli("offers", "add", "Acme", "--network", "acme", "--url", OFFER_URL, "--cpc-cents", "12")

    assert result.exit_code == 1
    assert "already exists" in result.stderr


# --- assets add -----------------------------------------------------------------------------------


def test_add_link_only_asset_prints_its_id_and_is_ready(cli, db):
    result = cli("assets", "add", "--title", "Three AI tools")

    assert result.exit_code == 0, result.output
    asset = db.session.get(Asset, last_line(result))
    assert asset.title == "Three AI tools"
    assert asset.status == "ready"
    assert audit_actions(db, "asset") == ["asset.create"]


def test_add_asset_with_source_url_is_new_and_enqueues_its_ingestion(cli, db, app):
    result = cli("assets", "add", "--title", "Video", "--source-url", "https://cdn.example.net/v.mp4")

    asset = db.session.get(Asset, last_line(result))
    assert asset.status == "new"
    assert asset.source_url == "https://cdn.example.net/v.mp4"
    [queued] = get_queue("ingest", app).jobs
    assert (queued.func_name, queued.args) == ("contentflow.jobs.assets.ingest_asset", (asset.id,))


def test_add_link_only_asset_enqueues_nothing(cli, db, app):
    cli("assets", "add", "--title", "Three AI tools")

    assert get_queue("ingest", app).jobs == []


def test_add_asset_for_an_offer_links_it(cli, db, make_offer):
    offer = make_offer("Acme")

    result = cli("assets", "add", "--title", "Video", "--offer", "Acme")

    assert db.session.get(Asset, last_line(result)).offer_id == offer.id


def test_add_asset_for_unknown_offer_exits_1(cli, db):
    result = cli("assets", "add", "--title", "Video", "--offer", "Nope")

    assert result.exit_code == 1
    assert "No offer named Nope" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 0


@pytest.mark.parametrize(
    "options",
    [["--title", "  "], ["--title", "Video", "--source-url", "file:///etc/passwd"]],
    ids=["blank-title", "non-http-source"],
)
def test_add_asset_with_bad_input_exits_1(cli, db, options):
    result = cli("assets", "add", *options)

    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert db.session.scalar(select(func.count()).select_from(Asset)) == 0


# --- assets show ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "shown"),
    [
        ("new", None, "new"),
        ("processing", None, "ingesting"),
        ("ready", None, "ready"),
        ("failed", "the source answered HTTP 404", "failed: the source answered HTTP 404"),
        ("quarantined", "DMCA notice 42", "quarantined"),
    ],
)
def test_show_asset_prints_its_status_alone_last(cli, db, make_asset, status, error, shown):
    asset = make_asset(title="Video", source_url="https://cdn.example.net/v.mp4")
    asset.status, asset.error = status, error

    result = cli("assets", "show", asset.id)

    assert result.exit_code == 0, result.output
    assert last_line(result) == shown


def test_show_asset_prints_its_fields_one_a_line(cli, db, make_asset, make_offer):
    asset = make_asset(title="Video", source_url="https://cdn.example.net/v.mp4", offer=make_offer("Acme"))
    asset.status, asset.media_path, asset.cover_path = (
        "ready",
        f"{asset.id}/source.mp4",
        f"{asset.id}/cover.jpg",
    )
    asset.size_bytes, asset.duration_ms, asset.width, asset.height = 10889, 2000, 320, 240
    asset.checksum_sha256, asset.mime_type = "ab" * 32, "video/mp4"

    lines = cli("assets", "show", asset.id).stdout.strip().splitlines()

    for line in [
        f"id: {asset.id}",
        "title: Video",
        "offer: Acme",
        "source URL: https://cdn.example.net/v.mp4",
        f"media path: {asset.id}/source.mp4",
        "type: video/mp4",
        "size: 10889 bytes",
        "duration: 2.000 s",
        "resolution: 320x240",
        f"checksum (sha256): {'ab' * 32}",
        f"cover path: {asset.id}/cover.jpg",
    ]:
        assert line in lines
    assert lines[-1] == "ready"


def test_show_quarantined_asset_prints_the_reason_above_the_status(cli, db, make_asset):
    asset = make_asset(title="Video")
    asset.status, asset.error = "quarantined", "DMCA notice 42"

    lines = cli("assets", "show", asset.id).stdout.strip().splitlines()

    assert lines[-2:] == ["quarantine reason: DMCA notice 42", "quarantined"]


def test_show_link_only_asset_prints_dashes_for_missing_media(cli, db, make_asset):
    asset = make_asset(title="Link only")

    lines = cli("assets", "show", asset.id).stdout.strip().splitlines()

    assert "media path: -" in lines and "resolution: -" in lines
    assert lines[-1] == "ready"


def test_show_unknown_asset_exits_1(cli, db):
    result = cli("assets", "show", "nosuchasst")

    assert result.exit_code == 1
    assert "No asset with the id nosuchasst." in result.stderr
    assert result.stdout == ""


# --- jobs -----------------------------------------------------------------------------------------


def test_jobs_list_shows_core_jobs_with_queue_and_schedule(cli):
    result = cli("jobs", "list")

    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line for line in result.stdout.splitlines()}
    assert "queue=email" in lines["deliver_mail"]
    assert lines["deliver_mail"].endswith("\t-")
    assert "queue=periodic" in lines["purge_expired_magic_links"]
    assert "every 1:00:00" in lines["purge_expired_magic_links"]
    assert last_line(result) == f"{len(lines) - 1} jobs"


def test_jobs_run_purges_old_used_and_expired_tokens(cli, db, partner):
    now = utcnow()
    for name, expires_at, used_at in [
        ("expired", now - timedelta(days=2), None),
        ("used", now + timedelta(minutes=5) - timedelta(days=2), now - timedelta(days=2)),
        ("fresh", now + timedelta(minutes=5), None),
        ("just-used", now + timedelta(minutes=5), now - timedelta(minutes=1)),
    ]:
        db.session.add(
            MagicLinkToken(
                token_hash=name,
                partner_id=partner.id,
                email=partner.email,
                expires_at=expires_at,
                used_at=used_at,
            )
        )
    db.session.flush()

    result = cli("jobs", "run", "purge_expired_magic_links")

    assert result.exit_code == 0, result.output
    assert last_line(result) == "purged 2 sign-in tokens"
    assert set(db.session.scalars(select(MagicLinkToken.token_hash))) == {"fresh", "just-used"}


def test_jobs_run_unknown_job_exits_1(cli):
    result = cli("jobs", "run", "nope")

    assert result.exit_code == 1
    assert "no job named 'nope'" in result.stderr


def test_jobs_run_job_that_needs_arguments_exits_1_explaining_why(cli):
    result = cli("jobs", "run", "deliver_mail")

    assert result.exit_code == 1
    assert "needs arguments (message_id)" in result.stderr


# --- demo -----------------------------------------------------------------------------------------


def row_counts(db) -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in _db.metadata.sorted_tables
    }


def test_demo_creates_data_for_every_page(cli, db):
    result = cli("demo")

    assert result.exit_code == 0, result.output
    assert last_line(result).startswith("demo ready: 3 partners, 4 assets")
    for model in (AdminUser, Partner, Network, Offer, Asset, ShortLink, Click, Conversion, LedgerEntry):
        assert db.session.scalar(select(func.count()).select_from(model)) > 0, model.__name__
    assert "demo.create" in db.session.scalars(select(AuditLog.action)).all()


def test_demo_credits_revenue_share_with_the_ledger_rounding(cli, db):
    cli("demo")

    credited = db.session.scalars(
        select(Conversion).where(Conversion.status == "confirmed", Conversion.needs_review.is_(False))
    ).all()
    assert credited
    for conversion in credited:
        entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.conversion_id == conversion.id))
        assert entry.amount_cents == to_cents(from_cents(conversion.amount_eur_cents) * Decimal("0.40"))
    assert db.session.scalar(select(func.count()).where(Conversion.needs_review.is_(True))) == 1
    assert db.session.scalar(select(func.count()).where(Conversion.status == "pending")) == 1


def test_demo_run_twice_adds_nothing(cli, db):
    cli("demo")
    before = row_counts(db)

    result = cli("demo")

    assert result.exit_code == 0, result.output
    assert row_counts(db) == before
    assert last_line(result).endswith("0 new clicks, 0 new conversions")


def test_demo_is_refused_in_production(make_app, db):
    production = make_app(CONTENTFLOW_ENV="production", BREVO_API_KEY="x")

    with production.app_context():
        result = production.test_cli_runner().invoke(args=["demo"])

    assert result.exit_code == 1
    assert "refused in production" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(Partner)) == 0
