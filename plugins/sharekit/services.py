"""The share kit: the partner's short link, the share text (title, call to action, link, hashtags, #ad),
the WhatsApp / Telegram / X intents (opened by the partner's own browser: nothing is sent for them), a QR
code, the share log, and e-mail shares to contacts who agreed, with a one-click unsubscribe.

E-mail shares are limited to ``SHARE_EMAIL_DAILY_LIMIT`` recipients per partner and rolling 24 hours,
counted under a lock on the partner's row (two posts at once cannot pass the limit together), and an
address that unsubscribed is never mailed again, by any partner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import segno
from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from sqlalchemy import func, select

from contentflow.errors import DomainError, NotFound, ValidationError
from contentflow.extension_points import SUBMISSION_ASSET
from contentflow.extensions import db
from contentflow.models import Asset, Partner, ShortLink
from contentflow.models.base import insert_or_skip, utcnow
from contentflow.security import keyed_hash
from contentflow.services import links, mail, partners
from plugins.sharekit.models import CHANNELS, Share, Unsubscribe

INTENT_CHANNELS = ("whatsapp", "telegram", "x")
#: Addresses one e-mail share may hold.
MAX_RECIPIENTS_PER_SHARE = 20
UNSUBSCRIBE_SALT = "sharekit-unsubscribe"
DISCLOSURE = "#ad"
SEPARATORS = re.compile(r"[,;\s]+")


class TooManyEmails(DomainError):
    """Over the partner's daily e-mail limit: nothing is sent; ``remaining`` may still go today."""

    status = 429
    code = "daily_limit"

    def __init__(self, message: str, remaining: int) -> None:
        super().__init__(message)
        self.remaining = remaining


@dataclass(frozen=True)
class Kit:
    """What the kit page shows for one asset of one partner."""

    asset: Asset
    short_url: str
    text: str
    intents: dict[str, str]
    qr_svg: Markup
    submission_id: str | None = None


def share_text(asset: Asset, short_url: str) -> str:
    """Title, call to action with the link, hashtags, and the ``#ad`` disclosure (once)."""
    hashtags = [tag for tag in asset.hashtags.split() if tag.lower() != DISCLOSURE]
    parts = [
        asset.title.strip(),
        f"{asset.cta.strip()} {short_url}".strip(),
        " ".join([*hashtags, DISCLOSURE]),
    ]
    return "\n\n".join(part for part in parts if part)


def intents(short_url: str, text: str) -> dict[str, str]:
    """The platforms' own share URLs, the text percent-encoded (a script in a title stays text)."""
    without_link = text.replace(short_url, "").replace("  ", " ").strip()
    return {
        "whatsapp": "https://wa.me/?" + urlencode({"text": text}, quote_via=quote),
        "telegram": "https://t.me/share/url?"
        + urlencode({"url": short_url, "text": without_link}, quote_via=quote),
        "x": "https://x.com/intent/post?" + urlencode({"text": text}, quote_via=quote),
    }


def qr_code(short_url: str) -> Markup:
    """The short link as an inline SVG QR code (segno), for sharing on paper or a screen."""
    return Markup(segno.make(short_url, error="m").svg_inline(scale=4, dark="#1f2330", light="#ffffff"))  # noqa: S704 - segno's own SVG of our own link


def asset_of_submission(partner_id: str, submission_id: str) -> str:
    """The asset of the partner's own BYOP submission (through the core hook BYOP answers). Raises
    NotFound: unknown, another partner's, or BYOP off."""
    asset_id = SUBMISSION_ASSET(submission_id, partner_id)
    if asset_id is None:
        raise NotFound(_("No such post."), code="submission_not_found")
    return asset_id


def kit_for(partner_id: str, asset_id: str, *, submission_id: str | None = None) -> Kit:
    """The kit of an asset the partner has a short link for (a submission's is made on the way).

    Raises NotFound: an unknown asset, or one the partner has no link for (outside BYOP)."""
    asset = db.session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(_("No such asset."), code="asset_not_found")
    if submission_id is not None:
        link = links.get_or_create_link(partner_id, asset.id)
    else:
        link = db.session.scalar(
            select(ShortLink).where(ShortLink.partner_id == partner_id, ShortLink.asset_id == asset.id)
        )
        if link is None:
            raise NotFound(_("No such asset."), code="asset_not_found")
    short_url = links.short_url(link)
    text = share_text(asset, short_url)
    return Kit(asset, short_url, text, intents(short_url, text), qr_code(short_url), submission_id)


def shareable_assets(partner_id: str, limit: int = 50) -> list[Asset]:
    """The assets the partner has a short link for, newest link first."""
    return list(
        db.session.scalars(
            select(Asset)
            .join(ShortLink, ShortLink.asset_id == Asset.id)
            .where(ShortLink.partner_id == partner_id)
            .order_by(ShortLink.created_at.desc(), ShortLink.id.desc())
            .limit(limit)
        )
    )


def log_share(partner_id: str, asset_id: str, channel: str, *, ip_hash: str | None = None) -> Share:
    """Record one share on ``channel`` (copy, qr or an intent). Raises ValidationError for another channel."""
    if channel not in CHANNELS or channel == "email":
        raise ValidationError(_("Unknown share channel."), code="bad_channel")
    share = Share(partner_id=partner_id, asset_id=asset_id, channel=channel, ip_hash=ip_hash)
    db.session.add(share)
    db.session.flush()
    return share


def recent_shares(partner_id: str, limit: int = 20) -> list[tuple[Share, str]]:
    """The partner's latest shares with their asset's title, newest first."""
    return [
        (share, title)
        for share, title in db.session.execute(
            select(Share, Asset.title)
            .join(Asset, Asset.id == Share.asset_id)
            .where(Share.partner_id == partner_id)
            .order_by(Share.created_at.desc(), Share.id.desc())
            .limit(limit)
        )
    ]


# --- e-mail shares -------------------------------------------------------------------------------


def parse_recipients(raw: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or new lines: checked, lower-cased, each once.

    Raises ValidationError naming the first bad address, for none at all, or for more than
    ``MAX_RECIPIENTS_PER_SHARE``."""
    found: list[str] = []
    for word in SEPARATORS.split(raw or ""):
        if not word:
            continue
        try:
            address = validate_email(word, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            raise ValidationError(
                _("Not an e-mail address: %(word)s", word=word[:80]), code="bad_email"
            ) from None
        if address not in found:
            found.append(address)
    if not found:
        raise ValidationError(_("Give at least one e-mail address."), code="no_email")
    if len(found) > MAX_RECIPIENTS_PER_SHARE:
        raise ValidationError(
            _("%(n)d addresses at most per share.", n=MAX_RECIPIENTS_PER_SHARE), code="too_many_emails"
        )
    return found


def emails_sent_since(partner_id: str, since: datetime) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Share.recipients_count), 0)).where(
                Share.partner_id == partner_id, Share.channel == "email", Share.created_at > since
            )
        )
    )


def remaining_today(partner_id: str, *, now: datetime | None = None) -> int:
    """How many more share e-mails the partner may send in the rolling 24 hours."""
    now = now or utcnow()
    limit = current_app.config["SHARE_EMAIL_DAILY_LIMIT"]
    return max(0, limit - emails_sent_since(partner_id, now - timedelta(hours=24)))


def is_unsubscribed(address: str) -> bool:
    return db.session.get(Unsubscribe, keyed_hash(address.lower())) is not None


@dataclass(frozen=True)
class EmailShareResult:
    sent: int
    unsubscribed: int
    remaining: int


def share_by_email(
    partner: Partner,
    asset_id: str,
    raw_recipients: str,
    *,
    has_consent: bool,
    consent_text: str,
    ip_hash: str | None = None,
    now: datetime | None = None,
) -> EmailShareResult:
    """E-mail the kit of ``asset_id`` to each recipient who never unsubscribed, through the core mail
    outbox, each with a one-click unsubscribe link (and ``List-Unsubscribe`` headers); the share is
    logged with the partner's consent statement.

    Raises ValidationError (no consent, bad or too many addresses), NotFound (no link for the asset) or
    TooManyEmails (429: over the daily limit; nothing sent). Serialised per partner by a row lock."""
    if not has_consent:
        raise ValidationError(
            _("Tick that every recipient agreed to receive this e-mail."), code="consent_required"
        )
    recipients = parse_recipients(raw_recipients)
    kit = kit_for(partner.id, asset_id)
    partners.lock_partner(partner.id)  # a second share of this partner waits here until this one ends
    now = now or utcnow()
    remaining = remaining_today(partner.id, now=now)
    wanted = [address for address in recipients if not is_unsubscribed(address)]
    if len(wanted) > remaining:
        raise TooManyEmails(
            _("You can send %(n)d more share e-mail(s) today.", n=remaining), remaining=remaining
        )
    for address in wanted:
        mail.queue_message(share_message(partner, kit, address))
    db.session.add(
        Share(
            partner_id=partner.id,
            asset_id=kit.asset.id,
            channel="email",
            recipients_count=len(wanted),
            has_consent=True,
            consent_text=consent_text[:300],
            ip_hash=ip_hash,
            created_at=now,
        )
    )
    db.session.flush()
    return EmailShareResult(len(wanted), len(recipients) - len(wanted), remaining - len(wanted))


def unsubscribe_url(address: str) -> str:
    token = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT).dumps(address.lower())
    return current_app.config["PUBLIC_BASE_URL"] + url_for("sharekit_share.unsubscribe", token=token)


def share_message(partner: Partner, kit: Kit, address: str) -> mail.Message:
    """The e-mail a contact gets: the share text, who sent it, the #ad disclosure, how to unsubscribe."""
    stop = unsubscribe_url(address)
    with force_locale(partner.locale):
        sender = partner.label
        text = "\n\n".join(
            [
                _("%(name)s shared this with you:", name=sender),
                kit.text,
                _("This message is an ad (#ad). To receive no more of these e-mails: %(url)s", url=stop),
            ]
        )
        html = render_template("sharekit/email_share.html", kit=kit, sender=sender, unsubscribe=stop)
        subject = kit.asset.title[:200]
    return mail.Message(
        to=address,
        subject=subject,
        text=text,
        html=html,
        tag="share",
        headers={"List-Unsubscribe": f"<{stop}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def address_of_token(token: str) -> str:
    """The address an unsubscribe link was made for. Raises NotFound for a link we did not make."""
    try:
        address = URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature:
        raise NotFound(_("This link is not valid."), code="bad_token") from None
    if not isinstance(address, str) or "@" not in address:
        raise NotFound(_("This link is not valid."), code="bad_token")
    return address


def unsubscribe(token: str) -> str:
    """Never e-mail this link's address again, whoever shares. Idempotent. Returns the address. Raises
    NotFound for a link we did not make."""
    address = address_of_token(token)
    db.session.execute(
        insert_or_skip(Unsubscribe, "email_hash").values(email_hash=keyed_hash(address), created_at=utcnow())
    )
    return address
