"""Every setting ContentFlow reads, with its type and default: the only reader of ``os.environ``.

The order follows ``.env.example``. Values are parsed strictly: a malformed value stops start-up with a
message naming the variable, so an operator never runs with a setting silently ignored.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from contentflow.platforms import PLATFORMS
from plugins import FLAGS as PLUGIN_FLAGS

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"

ENVIRONMENTS = ("development", "production", "testing")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class SettingsError(RuntimeError):
    """A setting is missing or malformed; start-up must stop."""


def parse_bool(name: str, raw: str) -> bool:
    """Strict boolean: true/false, 1/0, yes/no, on/off (any case). Raises SettingsError otherwise."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def parse_int(name: str, raw: str) -> int:
    """A count, a number of days or minutes: a whole number, 0 or more. Raises SettingsError."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise SettingsError(f"{name}={raw!r} cannot be negative")
    return value


def parse_decimal(name: str, raw: str) -> Decimal:
    """An amount in euros (exact, never float): finite, 0 or more. Raises SettingsError."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise SettingsError(f"{name}={raw!r} is not a decimal number") from None
    if not value.is_finite():
        raise SettingsError(f"{name}={raw!r} is not a finite number")
    if value < 0:
        raise SettingsError(f"{name}={raw!r} cannot be negative")
    return value


def parse_fraction(name: str, raw: str) -> Decimal:
    """A percentage written as a fraction, as in the seeds (0.40 for 40 %)."""
    value = parse_decimal(name, raw)
    if not Decimal(0) <= value <= Decimal(1):
        raise SettingsError(f"{name}={raw!r} must be a fraction between 0 and 1 (0.40 means 40 %)")
    return value


def parse_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_platforms(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of the platforms ContentFlow publishes to. Raises SettingsError."""
    platforms = parse_list(name, raw)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise SettingsError(f"{name}: unknown platform(s) {', '.join(unknown)}; use {', '.join(PLATFORMS)}")
    return platforms


def parse_str(name: str, raw: str) -> str:
    return raw.strip()


def parse_log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in LOG_LEVELS:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(LOG_LEVELS)}")
    return value


def parse_rate_limit(name: str, raw: str) -> str:
    """A flask-limiter rate such as ``5 per 15 minutes`` (several joined by ``;``). Raises SettingsError."""
    from limits import parse_many

    try:
        parse_many(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a rate limit such as '5 per 15 minutes'") from None
    return raw.strip()


def parse_env(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ENVIRONMENTS:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(ENVIRONMENTS)}")
    return value


def parse_url(name: str, raw: str) -> str:
    """An absolute http(s) URL, as written. Raises SettingsError."""
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name}={raw!r} must be an absolute http(s) URL")
    return url


def parse_base_url(name: str, raw: str) -> str:
    """An absolute http(s) URL that paths are appended to: without its trailing slash."""
    return parse_url(name, raw).rstrip("/")


YOUTUBE_PRIVACY = ("private", "unlisted", "public")


def parse_privacy(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in YOUTUBE_PRIVACY:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(YOUTUBE_PRIVACY)}")
    return value


#: Each platform's OAuth 2 authorize URL, token URL and API base URL: the real endpoints, as their docs
#: give them (``<PLATFORM>_AUTHORIZE_URL`` and the others override them, e.g. for a test double).
PLATFORM_ENDPOINTS: dict[str, tuple[str, str, str]] = {
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


@dataclass(frozen=True)
class Setting:
    """One environment variable: its parser, its default (already typed) and whether it is a secret."""

    name: str
    parse: Callable[[str, str], Any]
    default: Any
    is_secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    # --- the app itself
    Setting("CONTENTFLOW_ENV", parse_env, "development"),
    Setting("DATABASE_URL", parse_str, ""),
    Setting("REDIS_URL", parse_str, ""),
    Setting("SECRET_KEY", parse_str, "", is_secret=True),
    Setting("TOKEN_ENCRYPTION_KEY", parse_str, "", is_secret=True),
    Setting("IP_HASH_KEY", parse_str, "", is_secret=True),
    Setting("BREVO_API_KEY", parse_str, "", is_secret=True),
    Setting("BREVO_API_URL", parse_str, "https://api.brevo.com/v3"),
    Setting("EMAIL_FROM", parse_str, "noreply@contentflow.local"),
    Setting("EMAIL_FROM_NAME", parse_str, "ContentFlow"),
    Setting("PUBLIC_BASE_URL", parse_str, "http://127.0.0.1:5000"),
    Setting("TRUSTED_PROXY_HOPS", parse_int, 0),
    Setting("LOG_LEVEL", parse_log_level, "INFO"),
    Setting("DEFAULT_LOCALE", parse_str, "fr"),
    Setting("MAGIC_LINK_TTL_MINUTES", parse_int, 15),
    Setting("MAGIC_LINK_LIMIT_PER_EMAIL", parse_rate_limit, "5 per 15 minutes"),
    Setting("MAGIC_LINK_LIMIT_PER_IP", parse_rate_limit, "30 per hour"),
    Setting("ADMIN_LOGIN_LIMIT", parse_rate_limit, "10 per 15 minutes"),
    # --- tracking
    Setting("CLICK_REPEAT_WINDOW_MINUTES", parse_int, 60),
    Setting("CLICK_FLUSH_BATCH_SIZE", parse_int, 1000),
    Setting("NETWORK_SECRET_OVERLAP_HOURS", parse_int, 72),
    # --- feature flags: one per plugin, in the menu order of ``plugins.FLAGS``, then the sub-flags
    *(Setting(flag, parse_bool, True) for flag in PLUGIN_FLAGS.values()),
    Setting("FEATURE_BYOP_PUBLISH", parse_bool, True),
    # --- byop / sharekit (seeds 000, 001)
    Setting("BYOP_PUBLISH_PLATFORMS", parse_platforms, PLATFORMS),
    Setting("BYOP_DEFAULT_REVSHARE_PCT", parse_fraction, Decimal("0.40")),
    Setting("SHARE_EMAIL_ENABLED", parse_bool, True),
    Setting("SHARE_EMAIL_DAILY_LIMIT", parse_int, 200),
    Setting("SHAREKIT_DEFAULT_HASHTAGS", parse_str, "#ia #tools #productivité"),
    # --- payouts (seeds 002, 003, 004)
    Setting("PAYOUT_MIN_EUR", parse_decimal, Decimal("10")),
    Setting("PAYOUT_METHODS", parse_list, ("paypal", "bank")),
    Setting("PAYOUT_APPROVAL_THRESHOLD_EUR", parse_decimal, Decimal("200")),
    Setting("PAYOUT_RESERVE_PCT", parse_fraction, Decimal("0.30")),
    Setting("PAYOUT_RELEASE_DAYS", parse_int, 30),
    # --- earnings: referral bonus (seed 000, plugin earnings)
    Setting("REFERRAL_BONUS_PCT", parse_fraction, Decimal("0.10")),
    Setting("REFERRAL_BONUS_DAYS", parse_int, 7),
    # --- media and asset ingestion
    Setting("MEDIA_ROOT", parse_str, ""),
    Setting("INGEST_ALLOW_PRIVATE_HOSTS", parse_bool, False),
    Setting("INGEST_MAX_MB", parse_int, 500),
    Setting("INGEST_TIMEOUT_SECONDS", parse_int, 300),
    # --- publishing: the platforms' OAuth apps and APIs (plugin publish)
    *(
        setting
        for platform, endpoints in PLATFORM_ENDPOINTS.items()
        for setting in (
            Setting(f"{platform}_CLIENT_ID", parse_str, ""),
            Setting(f"{platform}_CLIENT_SECRET", parse_str, ""),
            Setting(f"{platform}_AUTHORIZE_URL", parse_url, endpoints[0]),
            Setting(f"{platform}_TOKEN_URL", parse_url, endpoints[1]),
            Setting(f"{platform}_API_BASE_URL", parse_base_url, endpoints[2]),
        )
    ),
    Setting("YOUTUBE_UPLOAD_BASE_URL", parse_base_url, "https://www.googleapis.com/upload"),
    Setting("YOUTUBE_PRIVACY_STATUS", parse_privacy, "private"),
    Setting("REDDIT_USER_AGENT", parse_str, "web:contentflow:1.0 (self-hosted partner network)"),
    Setting("PUBLISH_DEFAULT_DAILY_CAP", parse_int, 3),
    Setting("PUBLISH_DEFAULT_MIN_INTERVAL_MINUTES", parse_int, 120),
    Setting("PUBLISH_MAX_ATTEMPTS", parse_int, 5),
    Setting("PUBLISH_POSTING_TIMEOUT_MINUTES", parse_int, 30),
    # --- support / risk (seed 003)
    Setting("TICKET_AUTO_CLOSE_DAYS", parse_int, 5),
    Setting("TICKET_LIMIT_PER_EMAIL", parse_rate_limit, "5 per hour"),
    Setting("TICKET_LIMIT_PER_IP", parse_rate_limit, "20 per hour"),
    Setting("RISK_VELOCITY_MAX_CLICKS_10M", parse_int, 40),
    Setting("RISK_SHARED_IP_MAX_PARTNERS", parse_int, 5),
    Setting("RISK_SHARED_IP_WINDOW_MINUTES", parse_int, 60),
    Setting("RISK_FAST_CONVERSION_SECONDS", parse_int, 10),
    Setting("RISK_FAST_CONVERSIONS_MAX", parse_int, 3),
    Setting("RISK_FAST_CONVERSION_WINDOW_HOURS", parse_int, 24),
    Setting("RISK_HOLD_DAYS", parse_int, 30),
    # --- monitoring (seed 004)
    Setting("MONITORING_REFRESH_SECONDS", parse_int, 30),
)

#: Secrets that production refuses to start without.
PRODUCTION_SECRETS = tuple(s.name for s in SETTINGS if s.is_secret)
#: Shortest SECRET_KEY / IP_HASH_KEY in production: a guessable key forges sessions, reverses IP hashes.
MIN_KEY_LENGTH = 16


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from ``environ`` (default: ``os.environ``) into a typed dict.

    Raises SettingsError naming the variable when a value is malformed (``finish_settings`` then applies
    the production guards). Unknown ``FEATURE_*`` names are warned about (a typo would otherwise be silent).
    """
    if environ is None:
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env", override=False)
        environ = os.environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        if raw is None or (raw.strip() == "" and setting.parse is not parse_str):
            values[setting.name] = setting.default
        else:
            values[setting.name] = setting.parse(setting.name, raw)
    known = {s.name for s in SETTINGS}
    for name in sorted(environ):
        if name.startswith("FEATURE_") and name not in known:
            log.warning("unknown feature flag %s is ignored", name)
    return values


def finish_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Derive what depends on the mode: production guards, development defaults, Flask's own keys.

    Raises SettingsError when production lacks a secret or a service, or a value cannot work. Outside
    production, missing secrets come from random keys kept in the instance folder (``INSTANCE_PATH``,
    default ``instance/``), shared by the web process, workers and CLI of this checkout.
    """
    env = values["CONTENTFLOW_ENV"]
    instance_dir = Path(values.get("INSTANCE_PATH") or INSTANCE_DIR)
    values["INSTANCE_PATH"] = str(instance_dir)
    if env == "production":
        check_production(values)
    else:
        for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "IP_HASH_KEY"):
            if not values[name]:
                values[name] = development_secret(name, instance_dir)
    if not values["MEDIA_ROOT"]:
        values["MEDIA_ROOT"] = str(instance_dir / "media")
    if not values["DATABASE_URL"]:
        instance_dir.mkdir(parents=True, exist_ok=True)
        values["DATABASE_URL"] = f"sqlite:///{instance_dir / 'contentflow.db'}"
    check_fernet_keys(values["TOKEN_ENCRYPTION_KEY"])
    if values["TRUSTED_PROXY_HOPS"] < 0:
        raise SettingsError("TRUSTED_PROXY_HOPS must be 0 or more")
    if values["DEFAULT_LOCALE"] not in ("fr", "en"):
        raise SettingsError("DEFAULT_LOCALE must be fr or en")
    values["PUBLIC_BASE_URL"] = check_public_base_url(values["PUBLIC_BASE_URL"], env == "production")
    values["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(values["DATABASE_URL"])
    values["IS_PRODUCTION"] = env == "production"
    return values


def check_production(values: Mapping[str, Any]) -> None:
    """Production starts only with every secret and both services set. Raises SettingsError naming all
    that is missing at once, so an operator fixes the environment in one go."""
    missing = [name for name in (*PRODUCTION_SECRETS, "DATABASE_URL", "REDIS_URL") if not values.get(name)]
    if missing:
        raise SettingsError(f"production mode needs these settings: {', '.join(missing)}")
    weak = [name for name in ("SECRET_KEY", "IP_HASH_KEY") if len(values[name]) < MIN_KEY_LENGTH]
    if weak:
        raise SettingsError(
            f"{', '.join(weak)}: use at least {MIN_KEY_LENGTH} random characters in production "
            '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )


def check_fernet_keys(raw: str) -> None:
    """``TOKEN_ENCRYPTION_KEY``: Fernet keys, comma-separated, newest first. Raises SettingsError."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in raw.split(",") if key.strip()]
    try:
        if not keys:
            raise ValueError("no key")
        for key in keys:
            Fernet(key)
    except (ValueError, TypeError):
        raise SettingsError(
            "TOKEN_ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64 bytes), comma-separated; "
            "make one with: python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def check_public_base_url(url: str, is_production: bool) -> str:
    """The absolute address links are built from (sign-in e-mails, short links); https in production,
    where session cookies are Secure. Returns it without a trailing slash. Raises SettingsError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"PUBLIC_BASE_URL={url!r} must be an absolute http(s) URL")
    if is_production and parts.scheme != "https":
        raise SettingsError(f"PUBLIC_BASE_URL={url!r} must be an https:// URL in production")
    return url.rstrip("/")


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def development_secret(name: str, instance_dir: Path | None = None) -> str:
    """A random secret kept in ``<instance_dir>/dev-<name>`` (default ``instance/``), readable by its
    owner only: stable across the processes of one checkout. Idempotent, also when processes race."""
    instance_dir = instance_dir or INSTANCE_DIR
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / f"dev-{name.lower().replace('_', '-')}"
    if not path.exists():
        if name == "TOKEN_ENCRYPTION_KEY":
            from cryptography.fernet import Fernet

            value = Fernet.generate_key().decode()
        else:
            value = secrets.token_urlsafe(48)
        # Written aside, then linked into place: a concurrent reader never sees a half-written file,
        # and when two processes race, the first link wins and both read the same secret.
        draft = instance_dir / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
