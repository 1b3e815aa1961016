"""Secrets handling: one-time tokens, short ids, field encryption at rest, keyed IP hashing, passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator
from werkzeug.security import check_password_hash, generate_password_hash

SHORT_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_token() -> str:
    """A URL-safe token from the OS CSPRNG (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a high-entropy token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_short_id(length: int = 10) -> str:
    """A random lowercase id (10 chars = 51 bits) for ids that travel in a subid."""
    return "".join(secrets.choice(SHORT_ID_ALPHABET) for _ in range(length))


def hash_ip(ip: str, key: str | None = None) -> str:
    """Keyed hash of a client IP (HMAC-SHA256 with ``IP_HASH_KEY``): comparable, not reversible."""
    return keyed_hash(ip, key)


def keyed_hash(value: str, key: str | None = None) -> str:
    """HMAC-SHA256 of ``value`` with ``IP_HASH_KEY`` (32 hex characters): what is kept of a personal value
    that must be recognised but never read back (an IP, an unsubscribed e-mail address)."""
    key = key if key is not None else current_app.config["IP_HASH_KEY"]
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


def init_encryption(app: Flask) -> None:
    """Build the MultiFernet from ``TOKEN_ENCRYPTION_KEY`` (comma-separated, newest first, for rotation).

    Raises SettingsError-like ValueError naming the setting when a key is not a Fernet key.
    """
    from contentflow.settings import SettingsError

    keys = [k.strip() for k in app.config["TOKEN_ENCRYPTION_KEY"].split(",") if k.strip()]
    try:
        fernet = MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError):
        raise SettingsError(
            "TOKEN_ENCRYPTION_KEY must hold Fernet keys (32 url-safe base64 bytes), comma-separated"
        ) from None
    app.extensions["contentflow.fernet"] = fernet


def _fernet() -> MultiFernet:
    return current_app.extensions["contentflow.fernet"]


class EncryptedText(TypeDecorator):
    """Text encrypted at rest with the app's MultiFernet; reads also accept rotated-out keys."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return _fernet().encrypt(value.encode()).decode()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return _fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "an encrypted column could not be decrypted: check TOKEN_ENCRYPTION_KEY"
            ) from None
