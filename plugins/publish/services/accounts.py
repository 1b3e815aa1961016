"""Connected accounts: stored after OAuth (tokens encrypted at rest by the core's ``EncryptedText``),
their settings, a valid token when posting, and disconnection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from contentflow.errors import NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import Assignment, PartnerAccount
from contentflow.models.base import insert_or_skip, utcnow
from plugins.publish import oauth
from plugins.publish.models import AccountSettings
from plugins.publish.platforms import get_platform
from plugins.publish.publishers.base import Account

#: A token expiring within this is refreshed before it is used.
REFRESH_MARGIN = timedelta(minutes=5)
#: The longest a token is believed to live, whatever the platform says (Instagram's are 60 days).
MAX_TOKEN_LIFETIME = timedelta(days=366)
MAX_TOKEN_SECONDS = 100 * 366 * 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DAILY_CAP = 50
MAX_INTERVAL_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class AccountView:
    """An account as the partner's page shows it."""

    account: PartnerAccount
    settings: AccountSettings


def settings_of(account: PartnerAccount) -> AccountSettings:
    """The account's publishing settings, made with the defaults when missing. Idempotent, also when two
    workers ask at once (INSERT ... ON CONFLICT DO NOTHING)."""
    found = db.session.get(AccountSettings, account.id)
    if found is None:
        db.session.execute(
            insert_or_skip(AccountSettings, "account_id").values(
                account_id=account.id, autopublish=False, needs_reconnect=False, updated_at=utcnow()
            )
        )
        found = db.session.get(AccountSettings, account.id, populate_existing=True)
    return found


def expires_at(token: dict[str, Any], now: datetime) -> datetime | None:
    """When the token expires (``expires_in`` seconds, else ``expires_at`` epoch seconds), None when it
    says not. A lifetime past ``MAX_TOKEN_LIFETIME`` is cut to it, a negative one is now (refreshed before
    its next use), and one that is not a number is taken as unknown: a platform's odd answer never
    stops a connection or a post."""
    for key, start in (("expires_in", now), ("expires_at", EPOCH)):
        try:
            seconds = int(token.get(key) or 0)
        except (TypeError, ValueError, OverflowError):
            continue
        if seconds:
            moment = start + timedelta(seconds=max(min(seconds, MAX_TOKEN_SECONDS), -MAX_TOKEN_SECONDS))
            return min(max(moment, now), now + MAX_TOKEN_LIFETIME)
    return None


def connect(
    partner_id: str,
    platform: str,
    token: dict[str, Any],
    external_id: str,
    handle: str,
    *,
    now: datetime | None = None,
) -> PartnerAccount:
    """Store (or refresh) the partner's account ``external_id`` on ``platform`` with its token; a
    reconnected account works again. Idempotent per (partner, platform, external id)."""
    now = now or utcnow()
    account = db.session.scalar(
        select(PartnerAccount).where(
            PartnerAccount.partner_id == partner_id,
            PartnerAccount.platform == platform,
            PartnerAccount.external_id == external_id[:120],
        )
    )
    if account is None:
        config = current_app.config
        account = PartnerAccount(
            partner_id=partner_id,
            platform=platform,
            external_id=external_id[:120],
            daily_cap=config["PUBLISH_DEFAULT_DAILY_CAP"],
            min_interval_minutes=config["PUBLISH_DEFAULT_MIN_INTERVAL_MINUTES"],
            enabled=True,
        )
        db.session.add(account)
    account.handle = handle[:120]
    account.access_token = token["access_token"]
    # A platform that sends no new refresh token on re-consent keeps the one we had.
    account.refresh_token = token.get("refresh_token") or account.refresh_token
    account.token_expires_at = expires_at(token, now)
    db.session.flush()
    settings = settings_of(account)
    settings.needs_reconnect, settings.reconnect_reason = False, None
    db.session.flush()
    return account


def list_accounts(partner_id: str) -> list[AccountView]:
    """The partner's accounts, by platform then connection time."""
    accounts = db.session.scalars(
        select(PartnerAccount)
        .where(PartnerAccount.partner_id == partner_id)
        .order_by(PartnerAccount.platform, PartnerAccount.created_at, PartnerAccount.id)
    ).all()
    return [AccountView(account, settings_of(account)) for account in accounts]


def get_own(partner_id: str, account_id: int) -> PartnerAccount:
    """The partner's own account ``account_id``. Raises NotFound (also for another partner's)."""
    account = db.session.get(PartnerAccount, account_id)
    if account is None or account.partner_id != partner_id:
        raise NotFound(_("No such account."), code="unknown_account")
    return account


def update_settings(
    account: PartnerAccount, *, daily_cap: int, min_interval_minutes: int, autopublish: bool, target: str
) -> AccountSettings:
    """Save what the partner chose for the account. Raises ValidationError (out-of-range numbers, a
    target that cannot be a subreddit or board)."""
    if not 0 <= daily_cap <= MAX_DAILY_CAP:
        raise ValidationError(
            _("The daily cap is between 0 and %(n)d posts.", n=MAX_DAILY_CAP), code="bad_cap"
        )
    if not 0 <= min_interval_minutes <= MAX_INTERVAL_MINUTES:
        raise ValidationError(_("The interval is between 0 minutes and a week."), code="bad_interval")
    target = (target or "").strip()
    if account.platform == "reddit":
        target = target.removeprefix("/").removeprefix("r/")
    if len(target) > 120 or (target and not all(c.isalnum() or c in "_-" for c in target)):
        raise ValidationError(_("The target is a subreddit name or a board id."), code="bad_target")
    account.daily_cap, account.min_interval_minutes = daily_cap, min_interval_minutes
    settings = settings_of(account)
    settings.autopublish, settings.target = autopublish, target or None
    db.session.flush()
    return settings


def set_enabled(account: PartnerAccount, is_enabled: bool) -> None:
    """Pause or resume posting on the account. Idempotent."""
    account.enabled = is_enabled
    db.session.flush()


#: Assignments that would wait for ever on a removed account (and, being live, would block the same
#: asset from being assigned again once the partner connects an account anew).
UNPOSTED_STATUSES = ("pending", "approved")


def disconnect(account: PartnerAccount) -> bool:
    """Revoke the account's token where the platform allows it, then remove the account: its assignments
    not yet posted are skipped (with the reason), the others keep their history without the account.
    Returns whether the platform confirmed the revocation."""
    revoked = oauth.revoke(get_platform(account.platform), account.refresh_token or account.access_token)
    db.session.execute(
        update(Assignment)
        .where(Assignment.partner_account_id == account.id, Assignment.status.in_(UNPOSTED_STATUSES))
        .values(status="skipped", last_error="the account was disconnected", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.delete(account)
    db.session.flush()
    return revoked


def mark_needs_reconnect(account: PartnerAccount, reason: str) -> None:
    """Nothing is posted on the account until the partner connects it again."""
    settings = settings_of(account)
    settings.needs_reconnect, settings.reconnect_reason = True, reason[:500]
    db.session.flush()


def fresh_credentials(account: PartnerAccount, *, now: datetime | None = None) -> Account:
    """The account with a token valid now, refreshed (and stored) first when it expires soon.

    Raises AuthError (refresh refused: the caller marks the account) or TransientError."""
    now = now or utcnow()
    if account.token_expires_at is not None and account.token_expires_at <= now + REFRESH_MARGIN:
        platform = get_platform(account.platform)
        token = oauth.refresh(platform, account.access_token or "", account.refresh_token)
        account.access_token = token["access_token"]
        account.refresh_token = token.get("refresh_token") or account.refresh_token
        account.token_expires_at = expires_at(token, now)
        db.session.flush()
    return Account(account.platform, account.access_token or "", account.external_id, account.handle)
