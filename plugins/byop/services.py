"""BYOP: a partner's own post becomes an asset promoting an offer (with the partner's revenue share), and
"publish on my accounts" asks the core for one approved assignment per platform.

The assignments are made by whoever answers the core's ``assignments.create_for`` hook (the publish
plugin): BYOP never imports it. With it off, ``can_publish()`` is False and the button is absent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import NotFound, ValidationError
from contentflow.extensions import db
from contentflow.models import Asset, Offer
from contentflow.money import fraction_to_bps
from contentflow.services import assets, assignments, balances
from contentflow.services.assignments import AssignmentOutcome
from plugins.byop.models import Submission

MAX_HASHTAGS_LENGTH = 300
#: A submission id's length (``Submission.id``): a longer one names no submission.
SUBMISSION_ID_LENGTH = 16
#: The largest id PostgreSQL's BIGINT holds: a larger offer id names no offer (and no database error).
MAX_OFFER_ID = 2**63 - 1
#: A hashtag is letters, digits or underscores (accents kept: #productivité).
HASHTAG = re.compile(r"[^\W]+", re.UNICODE)


class NoActiveOffer(ValidationError):
    code = "no_active_offer"


@dataclass(frozen=True)
class PublishResult:
    """What "publish on my accounts" did, in the shape of seed 000's answer."""

    submission_id: str
    asset_id: str
    outcomes: tuple[AssignmentOutcome, ...]

    @property
    def created(self) -> list[dict]:
        return [
            {"platform": o.platform, "assignment_id": o.assignment_id} for o in self.outcomes if o.is_created
        ]

    @property
    def skipped(self) -> list[dict]:
        return [{"platform": o.platform, "reason": o.reason} for o in self.outcomes if not o.is_created]


def is_web_url(raw: str) -> bool:
    """An absolute http(s) URL (never ``javascript:``, ``file:`` or a relative path)."""
    parts = urlsplit(raw)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(raw) <= 2048


def hashtags_of(raw: str) -> list[str]:
    """``"ia, #Tools  #tools #productivité"`` -> ``["#ia", "#Tools", "#productivité"]``: each word once
    (case ignored), ``#`` in front, nothing but letters, digits and underscores."""
    seen: set[str] = set()
    tags = []
    for word in HASHTAG.findall(unicodedata.normalize("NFC", raw or "")):
        if word.casefold() not in seen:
            seen.add(word.casefold())
            tags.append(f"#{word}")
    return tags


def normalize_hashtags(raw: str) -> str:
    """The hashtags as stored: normalised, or ``SHAREKIT_DEFAULT_HASHTAGS`` when none were given."""
    tags = hashtags_of(raw) or hashtags_of(current_app.config["SHAREKIT_DEFAULT_HASHTAGS"])
    return " ".join(tags)[:MAX_HASHTAGS_LENGTH]


def active_offers() -> list[Offer]:
    """The offers a submission may promote, the headline one first."""
    headline = default_offer()
    offers = list(db.session.scalars(select(Offer).where(Offer.is_active.is_(True)).order_by(Offer.name)))
    return sorted(offers, key=lambda offer: offer.id != (headline.id if headline else None))


def default_offer() -> Offer | None:
    """The core's current headline offer (``current_offer()``), else the first active one."""
    headline = balances.current_offer().offer
    if headline is not None:
        return headline
    return db.session.scalar(select(Offer).where(Offer.is_active.is_(True)).order_by(Offer.id).limit(1))


def default_revshare_bps() -> int:
    """``BYOP_DEFAULT_REVSHARE_PCT`` (a fraction, 0.40) in basis points (4000)."""
    return fraction_to_bps(current_app.config["BYOP_DEFAULT_REVSHARE_PCT"])


def create_submission(
    partner_id: str,
    *,
    title: str,
    source_url: str = "",
    description: str = "",
    hashtags: str = "",
    cta: str = "",
    offer_id: int | None = None,
) -> Submission:
    """The partner's post as an asset they own, promoting ``offer_id`` (default: the headline offer), with
    the BYOP revenue share; its ingestion is enqueued after the commit when a URL is given.

    Raises NoActiveOffer (none to promote), ValidationError (an inactive or unknown offer, bad fields)."""
    if offer_id is None:
        offer = default_offer()
    else:
        offer = db.session.get(Offer, offer_id) if 0 < offer_id <= MAX_OFFER_ID else None
    if offer_id is not None and (offer is None or not offer.is_active):
        raise ValidationError(_("Choose one of the active offers."), code="bad_offer")
    if offer is None:
        raise NoActiveOffer(_("There is no offer to promote right now: come back soon."))
    source_url = (source_url or "").strip()
    if source_url and not is_web_url(source_url):
        raise ValidationError(_("Give an http:// or https:// address, or leave it empty."), code="bad_url")
    revshare_bps = default_revshare_bps()
    asset = assets.create_asset(
        title,
        source_url=source_url or None,
        offer=offer,
        description=(description or "").strip(),
        hashtags=normalize_hashtags(hashtags),
        cta=(cta or "").strip(),
        owner_partner_id=partner_id,
        revshare_bps=revshare_bps,
    )
    submission = Submission(
        partner_id=partner_id,
        asset_id=asset.id,
        source_url=source_url or None,
        title=title.strip(),
        description=(description or "").strip(),
        hashtags=(hashtags or "").strip(),
        cta=(cta or "").strip(),
        revshare_bps=revshare_bps,
    )
    db.session.add(submission)
    db.session.flush()
    return submission


def get_own(partner_id: str, submission_id: str) -> Submission:
    """The partner's own submission. Raises NotFound (also for another partner's: nothing revealed)."""
    is_id = isinstance(submission_id, str) and 0 < len(submission_id) <= SUBMISSION_ID_LENGTH
    submission = db.session.get(Submission, submission_id) if is_id else None
    if submission is None or submission.partner_id != partner_id:
        raise NotFound(_("No such submission."), code="submission_not_found")
    return submission


def asset_of(submission_id: str, partner_id: str) -> str | None:
    """BYOP's answer to the core's ``submissions.asset_of`` hook: the asset of the partner's own
    submission, or None."""
    try:
        return get_own(partner_id, submission_id).asset_id
    except NotFound:
        return None


def list_for_partner(partner_id: str, limit: int = 100) -> list[tuple[Submission, Asset]]:
    """The partner's submissions with their asset (and so its status), newest first."""
    return [
        (submission, asset)
        for submission, asset in db.session.execute(
            select(Submission, Asset)
            .join(Asset, Asset.id == Submission.asset_id)
            .where(Submission.partner_id == partner_id)
            .order_by(Submission.created_at.desc(), Submission.id)
            .limit(limit)
        )
    ]


# --- publish on my accounts ----------------------------------------------------------------------


def can_publish() -> bool:
    """Whether the "publish on my accounts" button exists: the sub-flag is on and a plugin publishes."""
    return bool(current_app.config["FEATURE_BYOP_PUBLISH"]) and assignments.can_create()


def platforms_to_publish(requested: list[str] | None) -> list[str]:
    """The requested platforms that ``BYOP_PUBLISH_PLATFORMS`` allows (all of them when ``requested`` is
    None), in the settings' order."""
    allowed = list(current_app.config["BYOP_PUBLISH_PLATFORMS"])
    if requested is None:
        return allowed
    return [platform for platform in allowed if platform in set(requested)]


def publish_on_accounts(partner_id: str, submission_id: str, requested: list[str] | None) -> PublishResult:
    """One approved assignment per platform on the partner's first enabled account there, or a skip with
    its reason (``no_connected_account``, ``already_assigned``, ``account_reconnect_needed``). No duplicate
    under concurrent clicks: the core's unique index decides.

    Raises ValidationError ``no_platforms``, NotFound ``submission_not_found`` / ``asset_not_found`` (the
    asset is gone, or was taken down: a quarantined asset is never published)."""
    platforms = platforms_to_publish(requested)
    if not platforms:
        raise ValidationError(_("None of these platforms can be published to."), code="no_platforms")
    submission = get_own(partner_id, submission_id)
    asset = db.session.get(Asset, submission.asset_id)
    if asset is None or asset.status == "quarantined":
        raise NotFound(_("The submission's asset is gone."), code="asset_not_found")
    outcomes = tuple(
        assignments.create_for(partner_id, submission.asset_id, platform, approved=True)
        for platform in platforms
    )
    return PublishResult(submission.id, submission.asset_id, outcomes)
