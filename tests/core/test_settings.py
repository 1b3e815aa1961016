"""Settings: typed defaults, strict parsing, production guards, development secrets, .env.example."""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from contentflow import create_app
from contentflow.platforms import PLATFORMS
from contentflow.settings import (
    PLATFORM_ENDPOINTS,
    PRODUCTION_SECRETS,
    ROOT,
    SETTINGS,
    SettingsError,
    finish_settings,
    load_settings,
    normalize_database_url,
)
from tests.conftest import base_settings

ENV_EXAMPLE = ROOT / ".env.example"
PRODUCTION_READY = {
    "CONTENTFLOW_ENV": "production",
    "DATABASE_URL": "postgresql://contentflow@db.internal/contentflow",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": "s" * 40,
    "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "IP_HASH_KEY": "i" * 40,
    "BREVO_API_KEY": "xkeysib-test",
    "PUBLIC_BASE_URL": "https://cf.example.org",
}


def finished(environ: dict[str, str], instance_dir: Path) -> dict:
    return finish_settings({**load_settings(environ), "INSTANCE_PATH": str(instance_dir)})


def test_defaults_are_typed_when_environment_is_empty():
    values = load_settings({})

    assert values["CONTENTFLOW_ENV"] == "development"
    assert values["PAYOUT_MIN_EUR"] == Decimal("10")
    assert isinstance(values["PAYOUT_MIN_EUR"], Decimal)
    assert values["BYOP_DEFAULT_REVSHARE_PCT"] == Decimal("0.40")
    assert values["PAYOUT_RESERVE_PCT"] == Decimal("0.30")
    assert values["PAYOUT_METHODS"] == ("paypal", "bank")
    assert values["BYOP_PUBLISH_PLATFORMS"] == ("youtube", "pinterest", "reddit", "instagram")
    assert values["MAGIC_LINK_TTL_MINUTES"] == 15
    assert values["TRUSTED_PROXY_HOPS"] == 0
    assert all(values[s.name] is True for s in SETTINGS if s.name.startswith("FEATURE_"))
    assert values["SHARE_EMAIL_ENABLED"] is True


def test_every_setting_is_read_when_environment_is_empty():
    assert set(load_settings({})) == {s.name for s in SETTINGS}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("Yes", True),
        ("on", True),
        (" On ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("NO", False),
        ("off", False),
        ("oFF", False),
    ],
)
def test_flag_accepts_strict_boolean_words_in_any_case(raw, expected):
    assert load_settings({"FEATURE_BYOP": raw})["FEATURE_BYOP"] is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "y"])
def test_flag_with_malformed_value_raises_naming_it(raw):
    with pytest.raises(SettingsError, match="FEATURE_BYOP"):
        load_settings({"FEATURE_BYOP": raw})


def test_app_does_not_start_when_a_flag_is_malformed():
    with pytest.raises(SettingsError, match="FEATURE_BYOP"):
        create_app(base_settings(ENVIRON={"FEATURE_BYOP": "maybe"}))


def test_empty_flag_value_keeps_the_default():
    assert load_settings({"FEATURE_PUBLISH": ""})["FEATURE_PUBLISH"] is True


def test_unknown_feature_flag_is_warned_about_and_ignored(caplog):
    with caplog.at_level(logging.WARNING, logger="contentflow.settings"):
        values = load_settings({"FEATURE_FOO": "true"})

    assert "FEATURE_FOO" not in values
    assert any("FEATURE_FOO" in record.getMessage() for record in caplog.records)


def test_known_settings_are_not_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="contentflow.settings"):
        load_settings({"FEATURE_BYOP": "off", "FEATURE_SUPPORTBOT": "on"})

    assert caplog.records == []


def test_fraction_is_parsed_as_decimal():
    values = load_settings({"BYOP_DEFAULT_REVSHARE_PCT": "0.35", "PAYOUT_RESERVE_PCT": "0"})

    assert values["BYOP_DEFAULT_REVSHARE_PCT"] == Decimal("0.35")
    assert values["PAYOUT_RESERVE_PCT"] == Decimal("0")


@pytest.mark.parametrize("raw", ["40", "1.01", "-0.1", "forty", "NaN"])
def test_fraction_outside_zero_to_one_is_refused(raw):
    with pytest.raises(SettingsError, match="BYOP_DEFAULT_REVSHARE_PCT"):
        load_settings({"BYOP_DEFAULT_REVSHARE_PCT": raw})


@pytest.mark.parametrize("raw", ["ten", "-5", "Infinity"])
def test_malformed_or_negative_amount_is_refused(raw):
    with pytest.raises(SettingsError, match="PAYOUT_MIN_EUR"):
        load_settings({"PAYOUT_MIN_EUR": raw})


@pytest.mark.parametrize("raw", ["15m", "1.5", "-1"])
def test_malformed_or_negative_whole_number_is_refused(raw):
    with pytest.raises(SettingsError, match="MAGIC_LINK_TTL_MINUTES"):
        load_settings({"MAGIC_LINK_TTL_MINUTES": raw})


def test_list_is_split_on_commas_into_a_tuple():
    values = load_settings({"PAYOUT_METHODS": " paypal , bank,,"})

    assert values["PAYOUT_METHODS"] == ("paypal", "bank")


def test_unknown_publish_platform_is_refused():
    with pytest.raises(SettingsError, match="BYOP_PUBLISH_PLATFORMS"):
        load_settings({"BYOP_PUBLISH_PLATFORMS": "youtube,tiktok"})


def test_unknown_log_level_is_refused():
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings({"LOG_LEVEL": "chatty"})


def test_malformed_rate_limit_is_refused():
    with pytest.raises(SettingsError, match="MAGIC_LINK_LIMIT_PER_IP"):
        load_settings({"MAGIC_LINK_LIMIT_PER_IP": "lots"})


def test_unknown_environment_mode_is_refused():
    with pytest.raises(SettingsError, match="CONTENTFLOW_ENV"):
        load_settings({"CONTENTFLOW_ENV": "staging"})


def test_production_without_secrets_raises_naming_each_one(tmp_path):
    with pytest.raises(SettingsError) as raised:
        finished({"CONTENTFLOW_ENV": "production"}, tmp_path)

    for name in (*PRODUCTION_SECRETS, "DATABASE_URL", "REDIS_URL"):
        assert name in str(raised.value)


@pytest.mark.parametrize("missing", [*PRODUCTION_SECRETS, "DATABASE_URL", "REDIS_URL"])
def test_production_with_one_setting_missing_raises_naming_it(tmp_path, missing):
    environ = {**PRODUCTION_READY, missing: ""}

    with pytest.raises(SettingsError, match=missing):
        finished(environ, tmp_path)


@pytest.mark.parametrize("name", ["SECRET_KEY", "IP_HASH_KEY"])
def test_production_with_a_short_key_is_refused(tmp_path, name):
    with pytest.raises(SettingsError, match=name):
        finished({**PRODUCTION_READY, name: "too-short"}, tmp_path)


def test_production_secrets_are_the_secret_settings():
    assert PRODUCTION_SECRETS == ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "IP_HASH_KEY", "BREVO_API_KEY")


def test_production_with_plain_http_public_url_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        finished({**PRODUCTION_READY, "PUBLIC_BASE_URL": "http://cf.example.org"}, tmp_path)


def test_production_with_everything_set_starts_without_development_secrets(tmp_path):
    values = finished(PRODUCTION_READY, tmp_path)

    assert values["IS_PRODUCTION"] is True
    assert values["SECRET_KEY"] == PRODUCTION_READY["SECRET_KEY"]
    assert values["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert list(tmp_path.iterdir()) == []


def test_production_app_starts_when_everything_is_set(make_app):
    production = make_app(CONTENTFLOW_ENV="production", BREVO_API_KEY="x")

    assert production.config["IS_PRODUCTION"] is True
    assert production.config["SESSION_COOKIE_SECURE"] is True


def test_development_fills_missing_secrets_from_the_instance_folder(tmp_path):
    values = finished({}, tmp_path)

    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "IP_HASH_KEY"):
        assert len(values[name]) >= 32
        assert (tmp_path / f"dev-{name.lower().replace('_', '-')}").read_text() == values[name]
    Fernet(values["TOKEN_ENCRYPTION_KEY"])  # a usable key, not just random text
    assert values["IS_PRODUCTION"] is False


def test_development_secrets_are_stable_across_two_loads(tmp_path):
    first = finished({}, tmp_path)
    second = finished({}, tmp_path)

    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "IP_HASH_KEY"):
        assert first[name] == second[name]


def test_development_secret_files_are_private(tmp_path):
    finished({}, tmp_path)

    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o077 == 0


def test_development_keeps_secrets_that_are_set(tmp_path):
    values = finished({"SECRET_KEY": "mine-mine-mine"}, tmp_path)

    assert values["SECRET_KEY"] == "mine-mine-mine"
    assert not (tmp_path / "dev-secret-key").exists()


def test_development_without_database_url_uses_sqlite_in_the_instance_folder(tmp_path):
    values = finished({}, tmp_path)

    assert values["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'contentflow.db'}"


def test_malformed_token_encryption_key_stops_start_up():
    with pytest.raises(SettingsError, match="TOKEN_ENCRYPTION_KEY"):
        create_app(base_settings(TOKEN_ENCRYPTION_KEY="not-a-fernet-key"))


def test_malformed_token_encryption_key_is_refused_by_settings(tmp_path):
    with pytest.raises(SettingsError, match="TOKEN_ENCRYPTION_KEY"):
        finished({"TOKEN_ENCRYPTION_KEY": "not-a-fernet-key"}, tmp_path)


def test_rotated_token_encryption_keys_are_accepted(tmp_path):
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"

    assert finished({"TOKEN_ENCRYPTION_KEY": keys}, tmp_path)["TOKEN_ENCRYPTION_KEY"] == keys


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////srv/cf.db", "sqlite:////srv/cf.db"),
    ],
)
def test_database_url_is_rewritten_to_psycopg_3(url, expected):
    assert normalize_database_url(url) == expected


def test_database_url_from_environment_is_used_through_psycopg_3(tmp_path):
    values = finished({"DATABASE_URL": "postgres://u@h/db"}, tmp_path)

    assert values["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("url", ["cf.example.org", "ftp://cf.example.org", "https://"])
def test_public_base_url_that_is_not_absolute_http_is_refused(tmp_path, url):
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        finished({"PUBLIC_BASE_URL": url}, tmp_path)


def test_public_base_url_loses_its_trailing_slash(tmp_path):
    values = finished({"PUBLIC_BASE_URL": "https://cf.example.org/"}, tmp_path)

    assert values["PUBLIC_BASE_URL"] == "https://cf.example.org"


def test_env_example_lists_every_setting_in_settings_order():
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)

    assert names == [s.name for s in SETTINGS]


def test_env_example_values_are_the_defaults():
    example = {name: value or "" for name, value in dotenv_values(ENV_EXAMPLE).items()}

    assert load_settings(example) == load_settings({})


def test_every_platform_of_the_one_list_has_its_oauth_settings():
    """``platforms.PLATFORMS`` is the list; the endpoints are per-platform data that must follow it."""
    assert sorted(PLATFORM_ENDPOINTS) == sorted(platform.upper() for platform in PLATFORMS)
