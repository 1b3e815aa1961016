"""The application factory."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from contentflow import settings as settings_module
from contentflow.extensions import babel, csrf, db, htmx, limiter, migrate, talisman
from contentflow.logs import configure_logging
from contentflow.money import format_money
from contentflow.plugin import has_endpoint, job_catalog_for, load_plugins, nav_items
from contentflow.queueing.connection import init_redis
from contentflow.queueing.schedules import install_catalog
from contentflow.security import init_encryption

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build a ContentFlow app: settings, extensions, core blueprints, enabled plugins, CLI.

    ``overrides`` replace settings read from the environment (tests use this). Raises SettingsError or
    PluginError when the configuration cannot run.
    """
    values = settings_module.load_settings(overrides.get("ENVIRON") if overrides else None)
    values["CONTENTFLOW_PLUGINS"] = default_plugin_modules()
    values.update({k: v for k, v in (overrides or {}).items() if k != "ENVIRON"})
    values = settings_module.finish_settings(values)

    app = Flask(
        "contentflow",
        instance_path=str(values.get("INSTANCE_PATH", settings_module.INSTANCE_DIR)),
        template_folder=str(settings_module.ROOT / "templates"),
        static_folder=str(settings_module.ROOT / "static"),
    )
    app.config.update(flask_defaults(values))
    app.config.update(values)
    configure_logging(app)

    from contentflow.views import edge

    # First: rules take the row-id converter when added, and its hook must run before any other.
    edge.init_app(app)
    init_extensions(app)
    register_core_blueprints(app)
    registry = load_plugins(app, app.config["CONTENTFLOW_PLUGINS"])
    from contentflow.jobs import CORE_JOBS, CORE_SCHEDULES

    install_catalog(app, job_catalog_for(registry, CORE_JOBS, CORE_SCHEDULES))
    register_request_hooks(app)

    from contentflow.cli import register_cli

    register_cli(app)
    wrap_wsgi(app)
    return app


def wrap_wsgi(app: Flask) -> None:
    """The fast paths of the tracked redirect and of postbacks, then ProxyFix outermost so they see the
    real client address."""
    from contentflow.views.links import FastRedirect
    from contentflow.views.postback import FastPostback

    app.wsgi_app = FastRedirect(app, FastPostback(app, app.wsgi_app))  # type: ignore[method-assign]
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]


def default_plugin_modules() -> list[str]:
    from plugins import AVAILABLE

    return [f"plugins.{name}" for name in AVAILABLE]


def flask_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    is_production = values["IS_PRODUCTION"]
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if values["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Concurrent requests on the first-run SQLite wait for the lock instead of failing.
        engine_options = {"connect_args": {"timeout": 30}}
    return {
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": is_production,
        "SESSION_COOKIE_NAME": "contentflow_session",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": is_production,
        "WTF_CSRF_TIME_LIMIT": None,  # the token is tied to the session cookie already
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "BABEL_DEFAULT_LOCALE": values["DEFAULT_LOCALE"],
        "BABEL_TRANSLATION_DIRECTORIES": str(settings_module.ROOT / "contentflow" / "translations"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "contentflow:limits",
        "TESTING": values["CONTENTFLOW_ENV"] == "testing",
        "SECRET_KEY": values["SECRET_KEY"],
        # No request body beyond the largest video upload (plus room for the multipart envelope): a
        # bigger one is refused (413) from its Content-Length, before anything is read or spooled.
        "MAX_CONTENT_LENGTH": (values["INGEST_MAX_MB"] + 1) * 1024 * 1024,
    }


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite (first run): WAL so readers never block, foreign keys on, and SQLAlchemy, not pysqlite,
    in charge of transactions (pysqlite's own handling breaks SAVEPOINT; SQLAlchemy's documented fix)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    """IMMEDIATE takes the write lock up front: concurrent writers wait (busy timeout) instead of
    failing when a read transaction later tries to write."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_extensions(app: Flask) -> None:
    import contentflow.models  # noqa: F401 - registers every core table
    from contentflow.auth import init_login

    db.init_app(app)
    migrate.init_app(app, db, directory=str(settings_module.ROOT / "migrations"), render_as_batch=True)
    if extra_migration_locations not in migrate.configure_callbacks:
        migrate.configure(extra_migration_locations)
    init_encryption(app)
    init_redis(app)
    app.config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(app.config["RESOLVED_REDIS_URL"])
    limiter.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    talisman.init_app(
        app,
        force_https=False,
        session_cookie_secure=app.config["IS_PRODUCTION"],
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        # No page of ours needs to leak its URL (sign-in links carry tokens): no referrer anywhere.
        referrer_policy="no-referrer",
    )
    init_login(app)
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.globals["nav_items"] = nav_items
    app.jinja_env.globals["has_endpoint"] = has_endpoint
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale() or app.config["DEFAULT_LOCALE"])


def extra_migration_locations(config):
    """Flask-Migrate hook: add the version folders named by ``MIGRATION_EXTRA_LOCATIONS`` (an override,
    not a setting: only the test suite's fixture plugin, which lives outside ``plugins/``, has its own)
    beside ``migrations/versions``. Every real plugin's migrations live in the one history."""
    import os

    from flask import current_app

    extra = current_app.config.get("MIGRATION_EXTRA_LOCATIONS") or ()
    if extra:
        locations = [str(settings_module.ROOT / "migrations" / "versions"), *map(str, extra)]
        config.set_main_option("version_locations", os.pathsep.join(locations))
    return config


def limiter_storage_uri(redis_url: str) -> str:
    """flask-limiter spells the unix-socket scheme ``redis+unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def select_locale() -> str:
    """The partner's chosen language, then the browser's, then the default (French)."""
    from flask import current_app, has_request_context

    if not has_request_context():
        return current_app.config["DEFAULT_LOCALE"]
    user = current_user
    if getattr(user, "is_authenticated", False) and getattr(user, "locale", None):
        return user.locale
    return request.accept_languages.best_match(["fr", "en"]) or current_app.config["DEFAULT_LOCALE"]


def register_core_blueprints(app: Flask) -> None:
    from contentflow.plugin import CORE_NAV_KEY
    from contentflow.views import admin, auth, health, links, media, partner, postback

    app.register_blueprint(auth.bp)
    app.register_blueprint(partner.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(links.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(postback.bp)
    app.extensions[CORE_NAV_KEY] = [*partner.NAV, *admin.NAV]
    if not app.config["IS_PRODUCTION"]:
        from contentflow.views import dev

        app.register_blueprint(dev.bp)

    from contentflow.views.errors import register_error_handlers

    register_error_handlers(app)


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def add_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    @app.context_processor
    def inject_layout() -> dict[str, Any]:
        return {
            "is_production": app.config["IS_PRODUCTION"],
            "site_name": _l("ContentFlow"),
        }

    logging.getLogger(__name__).debug(
        "app ready", extra={"plugins": list(app.extensions["contentflow.plugins"].enabled)}
    )
