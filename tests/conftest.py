"""Test set-up: real PostgreSQL and Redis when they answer (always in CI), the embedded defaults otherwise.

- ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` name the services; without them the local ones
  (127.0.0.1:5432 database ``test``, 127.0.0.1:6379 db 15) are used when they answer, else SQLite and the
  embedded redis-server, and the run says so. With ``CI=true`` a missing service fails the run.
- The schema comes from ``flask db upgrade`` on an emptied database: migrations run on every test run.
- ``db`` puts each test in a transaction with a savepoint the app may commit into, rolled back after
  (SQLAlchemy's "join a session into an external transaction" recipe). Tests that need committed rows
  (several connections, a worker) use ``committed`` instead, which truncates after.
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import scoped_session, sessionmaker

from contentflow import create_app
from contentflow.extensions import db as _db
from contentflow.models import AdminUser, Asset, Click, Network, Offer, Partner
from plugins import AVAILABLE, FLAGS

CI = os.environ.get("CI", "").lower() == "true"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/15"
ADMIN_PASSWORD = "correct horse battery staple"
#: Every test app declares the real plugins and the test-only ``sample`` one (flag off unless a test
#: switches it on), whose migration lives in its own folder: its table is always in the schema.
SAMPLE_PLUGIN = "tests.fixtures.sample"
TEST_PLUGINS = [*(f"plugins.{name}" for name in AVAILABLE), SAMPLE_PLUGIN]
SAMPLE_MIGRATIONS = Path(__file__).parent / "fixtures" / "sample" / "migrations"
_TMP = Path(tempfile.mkdtemp(prefix="contentflow-tests-"))


def _database_answers(url: str) -> bool:
    try:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis_lib.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis_lib.RedisError, OSError):
        return False


def _choose_services() -> tuple[str, str, list[str]]:
    notes: list[str] = []
    database_url = os.environ.get("TEST_DATABASE_URL", "")
    if not database_url:
        if _database_answers(LOCAL_DATABASE_URL):
            database_url = LOCAL_DATABASE_URL
        elif CI:
            raise pytest.UsageError(f"CI=true and PostgreSQL does not answer at {LOCAL_DATABASE_URL}")
        else:
            database_url = f"sqlite:///{_TMP / 'test.db'}"
            notes.append("PostgreSQL not found: testing on SQLite (set TEST_DATABASE_URL)")
    elif not _database_answers(database_url):
        raise pytest.UsageError(f"TEST_DATABASE_URL does not answer: {database_url}")
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if redis_url == "embedded":
        redis_url = ""
        notes.append("Redis: the embedded redis-server (TEST_REDIS_URL=embedded)")
    elif not redis_url:
        if _redis_answers(LOCAL_REDIS_URL):
            redis_url = LOCAL_REDIS_URL
        elif CI:
            raise pytest.UsageError(f"CI=true and Redis does not answer at {LOCAL_REDIS_URL}")
        else:
            redis_url = ""  # the app starts its embedded redis-server in the test instance folder
            notes.append("Redis not found: testing on the embedded redis-server (set TEST_REDIS_URL)")
    elif not _redis_answers(redis_url):
        raise pytest.UsageError(f"TEST_REDIS_URL does not answer: {redis_url}")
    return database_url, redis_url, notes


DATABASE_URL, REDIS_URL, SERVICE_NOTES = _choose_services()


def pytest_report_header(config) -> list[str]:
    shown_db = re.sub(r"//[^@/]*@", "//", DATABASE_URL)
    return [f"contentflow: database {shown_db}, redis {REDIS_URL or 'embedded'}", *SERVICE_NOTES]


def base_settings(**overrides: Any) -> dict[str, Any]:
    """Settings of a test app: testing mode, every flag on, fixed secrets, the chosen services."""
    values: dict[str, Any] = {
        "ENVIRON": {},  # never read the developer's environment or .env
        "CONTENTFLOW_ENV": "testing",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": str(_TMP / "instance"),
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TOKEN_ENCRYPTION_KEY": TEST_FERNET_KEY,
        "IP_HASH_KEY": "test-ip-hash-key",
        "PUBLIC_BASE_URL": "https://cf.example.org",
        "LOG_LEVEL": "WARNING",
        **{flag: True for flag in FLAGS.values()},
        "FEATURE_BYOP_PUBLISH": True,
        "CONTENTFLOW_PLUGINS": TEST_PLUGINS,
        "FEATURE_SAMPLE": False,
        "FEATURE_SAMPLE_NOTES": False,
        "MIGRATION_EXTRA_LOCATIONS": [str(SAMPLE_MIGRATIONS)],
    }
    values.update(overrides)
    if values["CONTENTFLOW_ENV"] == "production" and not values["REDIS_URL"]:
        # Production insists on an explicit REDIS_URL: name the embedded server's socket.
        from contentflow.queueing.connection import ensure_embedded_redis

        values["REDIS_URL"] = ensure_embedded_redis(Path(values["INSTANCE_PATH"]))
    return values


TEST_FERNET_KEY = Fernet.generate_key().decode()


class IsolatedClient(FlaskClient):
    """Each request in its own context, as in production: pytest-flask keeps a request context pushed
    for the test, and a request reusing its app context would share ``g`` (and flask-login's cached
    user) with the test and with earlier requests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Tests read English messages; the French default is tested with `browser_language(None)`.
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def browser_language(self, value: str | None) -> IsolatedClient:
        """Send ``value`` as Accept-Language from now on (None: send none)."""
        if value is None:
            self.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
        else:
            self.environ_base["HTTP_ACCEPT_LANGUAGE"] = value
        return self

    def open(self, *args: Any, **kwargs: Any):
        return contextvars.Context().run(super().open, *args, **kwargs)


class TestScopedSession(scoped_session):
    """The one session of a ``db`` test: a request's teardown rolls back to the last savepoint (what
    closing a session does in production) instead of closing it, so the test's objects stay attached."""

    def remove(self) -> None:
        if self.registry.has():
            self.registry().rollback()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    """The app every test shares: all flags on. Its schema is built by the migrations."""
    application = create_app(base_settings())
    application.test_client_class = IsolatedClient
    with application.app_context():
        _reset_schema()
        from flask_migrate import upgrade

        upgrade(revision="heads")  # the core's history and the sample plugin's branch
    yield application
    with application.app_context():
        _db.engine.dispose()
    if not REDIS_URL:
        from contentflow.queueing.connection import stop_embedded_redis

        stop_embedded_redis(Path(application.instance_path))


def _reset_schema() -> None:
    engine = _db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    else:
        engine.dispose()
        Path(engine.url.database).unlink(missing_ok=True)


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build another app on the same database and Redis, e.g. with a flag off or in production mode.

    Its CLI runner runs against the session app unless called inside ``with other.app_context():``
    (pytest-flask keeps the session app's context pushed)."""
    from contentflow.extensions import limiter

    # flask-limiter keeps its storage on the (shared) extension object: the last app built would win.
    storage, strategy = limiter._storage, limiter._limiter
    built: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        application = create_app(base_settings(**overrides))
        application.test_client_class = IsolatedClient
        built.append(application)
        return application

    yield build
    limiter._storage, limiter._limiter = storage, strategy
    for application in built:
        with application.app_context():
            for engine in _db.engines.values():
                engine.dispose()


@pytest.fixture(autouse=True)
def redis(app: Flask) -> Iterator[redis_lib.Redis]:
    """The app's Redis (a dedicated db number), flushed after every test: queues, schedules, limits; the
    process's copy of the postback limits goes with it."""
    from contentflow.queueing import redis_connection
    from contentflow.services.postback_limits import limiter_of

    connection = redis_connection(app)
    connection.flushdb()
    limiter_of(app).forget()
    yield connection
    connection.flushdb()
    limiter_of(app).forget()


@pytest.fixture
def db(app: Flask) -> Iterator[Any]:
    """Each test inside a transaction; the app's commits release savepoints; all rolled back after."""
    with app.app_context():
        connection = _db.engine.connect()
        transaction = connection.begin()
        original = _db.session
        # A plain Session: flask-sqlalchemy's own would pick the engine over this connection.
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        _db.session = TestScopedSession(factory)
        try:
            yield _db
        finally:
            _db.session.registry().close()
            _db.session = original
            transaction.rollback()
            connection.close()


@pytest.fixture
def committed(app: Flask) -> Iterator[Any]:
    """Real commits, for tests with several connections or a worker; every table emptied after."""
    with app.app_context():
        yield _db
        _db.session.remove()
        truncate_all()


def truncate_all() -> None:
    tables = [table.name for table in reversed(_db.metadata.sorted_tables)]
    with _db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                connection.execute(sa.text(f"DELETE FROM {name}"))


# --- factories: make_x returns a builder, x is a ready one -------------------------------------------
# They commit: in a `db` test that releases a savepoint (rolled back at the end), and the rows outlive
# the rollback-to-savepoint that ends each request.


@pytest.fixture
def make_partner(db) -> Callable[..., Partner]:
    counter = iter(range(1, 10_000))

    def build(email: str | None = None, **fields: Any) -> Partner:
        partner = Partner(email=email or f"partner{next(counter)}@example.com", **fields)
        db.session.add(partner)
        db.session.commit()
        return partner

    return build


@pytest.fixture
def partner(make_partner) -> Partner:
    return make_partner("pat@example.com", display_name="Pat")


@pytest.fixture
def make_admin(db) -> Callable[..., AdminUser]:
    from contentflow.services import admins

    def build(email: str = "boss@example.com", password: str = ADMIN_PASSWORD) -> AdminUser:
        admin = admins.create_admin(email, password)
        db.session.commit()
        return admin

    return build


@pytest.fixture
def admin(make_admin) -> AdminUser:
    return make_admin()


@pytest.fixture
def make_network(db) -> Callable[..., Network]:
    from contentflow.services import offers

    def build(name: str = "acme", secret: str = "s3cret-s3cret-s3cret") -> Network:
        network = offers.create_network(name, secret)
        db.session.commit()
        return network

    return build


@pytest.fixture
def make_offer(db, make_network) -> Callable[..., Offer]:
    from contentflow.services import offers

    def build(name: str = "Acme CPC", network: str | None = None, **terms: Any) -> Offer:
        if network is None:
            network = offers.get_network_by_name("acme") or make_network("acme")
            network = network.name
        terms.setdefault("cpc_cents", 12)
        offer = offers.create_offer(name, network, "https://acme.example.net/go?sub={subid}", **terms)
        db.session.commit()
        return offer

    return build


@pytest.fixture
def make_asset(db) -> Callable[..., Asset]:
    from contentflow.services import assets

    def build(title: str = "A video", **fields: Any) -> Asset:
        asset = assets.create_asset(title, **fields)
        db.session.commit()
        return asset

    return build


def add_click(
    db, partner: Partner, asset: Asset, at: Any, *, cpc_cents: int | None = 12, billable: bool = True
) -> Click:
    """A stored click made at ``at`` (a non-billable one is a repeat and carries no CPC)."""
    click = Click(
        partner_id=partner.id,
        asset_id=asset.id,
        offer_id=asset.offer_id,
        cpc_cents=cpc_cents if billable else None,
        created_at=at,
        ip_hash="0" * 32,
        visitor_hash=uuid.uuid4().hex,
        is_billable=billable,
        not_billable_reason=None if billable else "repeat",
    )
    db.session.add(click)
    db.session.commit()
    return click


# --- media ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ffmpeg() -> Path:
    """Debian's ffmpeg (ffprobe beside it): skipped when missing, a failure under ``CI=true`` (CI
    installs it)."""
    found = shutil.which("ffmpeg")
    if found is None or shutil.which("ffprobe") is None:
        reason = "ffmpeg is missing: apt-get install ffmpeg to run the ingestion tests"
        if CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return Path(found)


@pytest.fixture(scope="session")
def make_video(ffmpeg, tmp_path_factory) -> Callable[..., Path]:
    """Build a small real video from ffmpeg's test pattern (``make_video(seconds=2, size="320x240")``)."""
    folder = tmp_path_factory.mktemp("videos")

    def build(seconds: float = 2, size: str = "320x240", name: str = "clip.mp4") -> Path:
        path = folder / f"{seconds}-{size}-{name}"
        if not path.exists():
            source = f"testsrc=duration={seconds}:size={size}:rate=10"
            argv = [
                str(ffmpeg),
                "-v",
                "error",
                "-nostdin",
                "-y",
                "-f",
                "lavfi",
                "-i",
                source,
                "-pix_fmt",
                "yuv420p",
            ]
            subprocess.run([*argv, str(path)], check=True, capture_output=True, timeout=60)
        return path

    return build


@pytest.fixture(scope="session")
def video(make_video) -> Path:
    """A 2-second 320x240 MP4."""
    return make_video()


# --- clients ------------------------------------------------------------------------------------------


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that keeps no request context between requests (pytest-flask's preserves one)."""
    return app.test_client()


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_token_of(client: FlaskClient, path: str = "/partners") -> str:
    """The CSRF token of ``client``'s session, read from a page as a browser would."""
    page = client.get(path).get_data(as_text=True)
    match = CSRF_INPUT.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


@pytest.fixture
def csrf(client) -> Callable[[str], str]:
    return lambda path="/partners": csrf_token_of(client, path)


def sign_in(client: FlaskClient, user: Partner | AdminUser) -> None:
    """Put ``user`` in the client's session the way flask-login does after a sign-in."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


@pytest.fixture
def partner_client(client, partner, db) -> FlaskClient:
    sign_in(client, partner)
    return client


@pytest.fixture
def admin_client(client, admin, db) -> FlaskClient:
    sign_in(client, admin)
    return client


def message_of(job) -> dict[str, str]:
    """What an e-mail job will send: its outbox row as ``{to, subject, text, html, tag}``. The job itself
    carries only the row's id."""
    from contentflow.models import OutboxMessage

    row = _db.session.get(OutboxMessage, job.args[0])
    assert row is not None, "the e-mail job names no outbox row"
    return {
        "to": row.to_email,
        "subject": row.subject,
        "text": row.text_body,
        "html": row.html_body,
        "tag": row.tag,
    }
