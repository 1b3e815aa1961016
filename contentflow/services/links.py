"""Short links: one random code per partner x asset, created on demand, and what a visit resolves to
(read from the database, or from the redirect's in-process ``LinkCache`` for a few seconds)."""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from flask import current_app
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from contentflow.extensions import db
from contentflow.models import Asset, Offer, Partner, ShortLink
from contentflow.services.offers import SUBID_MACRO

#: How long a link's resolution (offer URL, CPC, whether it is served) may be served from a process's
#: ``LinkCache``: a quarantine, a failed asset or an inactive offer takes effect within this many seconds.
LINK_CACHE_SECONDS = 5
#: A well-formed code, asset id or partner id in ``/l/...``: anything else (a NUL byte, invalid UTF-8,
#: a huge value) names no link and answers 404 before any lookup.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,24}")

#: An asset in one of these states sends nobody anywhere: its link answers 404, or 410 Gone when the
#: asset was quarantined (taken down).
UNSERVED_ASSET_STATUSES = ("failed", "quarantined")


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Everything a visit of a short link needs, read in one query: who earns, and where to send."""

    link_id: int
    code: str
    partner_id: str
    asset_id: str
    offer_id: int
    #: The offer's CPC now, in EUR cents (None: the offer pays no CPC).
    cpc_cents: int | None
    url_template: str


class LinkCache:
    """Resolutions of ``/l/<code>`` kept in this process for ``seconds``, so most redirects read no
    database and no Redis. Every process holds its own: each resolves a link at most once per
    ``seconds``, and a change (quarantine, CPC, offer switched off) reaches every process within
    ``seconds``, as the Redis cache it replaces did. Only servable links are kept; unknown or unservable
    codes are always asked again (they answer 404/410 through the app). At most ``max_entries``, the
    oldest stored dropped first. The caller passes the time (``time.monotonic()``), so tests pass it too.
    Shared by a process's threads: ``get`` is one dict read, ``put`` (a miss) takes a lock."""

    def __init__(self, seconds: float = LINK_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[LinkTarget, float]] = {}
        self._lock = threading.Lock()

    def get(self, code: str, now: float) -> LinkTarget | None:
        """The cached target of ``code`` if it was resolved less than ``seconds`` before ``now``."""
        entry = self._entries.get(code)
        if entry is None or now - entry[1] >= self.seconds:
            return None
        return entry[0]

    def put(self, target: LinkTarget, now: float) -> None:
        """Remember ``target`` as resolved at ``now``."""
        entries = self._entries
        with self._lock:
            entries.pop(target.code, None)
            if len(entries) >= self.max_entries:
                entries.pop(next(iter(entries)), None)
            entries[target.code] = (target, now)

    def clear(self) -> None:
        self._entries.clear()


@lru_cache(maxsize=1)
def _servable_targets() -> Select:
    """Links whose asset is served and whose offer is active: the only ones a visit may follow. Built
    once: statement construction costs more than the query on the hot path."""
    return (
        select(
            ShortLink.id,
            ShortLink.code,
            ShortLink.partner_id,
            ShortLink.asset_id,
            Offer.id,
            Offer.cpc_cents,
            Offer.url_template,
        )
        .join(Asset, Asset.id == ShortLink.asset_id)
        .join(Offer, Offer.id == Asset.offer_id)
        .where(Asset.status.not_in(UNSERVED_ASSET_STATUSES), Offer.is_active.is_(True))
    )


@lru_cache(maxsize=1)
def _by_code() -> Select:
    return _servable_targets().where(ShortLink.code == bindparam("code"))


def new_code() -> str:
    """12 URL-safe characters (72 random bits): enumerating codes is hopeless."""
    return secrets.token_urlsafe(9)


def get_or_create_link(partner_id: str, asset_id: str) -> ShortLink:
    """The partner's link for this asset, created if missing. Idempotent, also under concurrency."""
    query = select(ShortLink).where(ShortLink.partner_id == partner_id, ShortLink.asset_id == asset_id)
    link = db.session.scalar(query)
    if link is not None:
        return link
    try:
        with db.session.begin_nested():
            link = ShortLink(code=new_code(), partner_id=partner_id, asset_id=asset_id)
            db.session.add(link)
    except IntegrityError:
        link = db.session.scalar(query)
        if link is None:
            raise
    return link


def count_links(partner_id: str) -> int:
    """How many short links the partner has."""
    return db.session.scalar(
        select(func.count()).select_from(ShortLink).where(ShortLink.partner_id == partner_id)
    )


def short_url(link: ShortLink) -> str:
    """Absolute URL from ``PUBLIC_BASE_URL``."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/l/{link.code}"


def is_well_formed(value: str) -> bool:
    """Whether ``value`` may be a link code, an asset id or a partner id (``ID_PATTERN``)."""
    return ID_PATTERN.fullmatch(value) is not None


def resolve_code(code: str) -> LinkTarget | None:
    """The target of ``/l/<code>`` in one query; None when the code is unknown, the asset failed or is
    quarantined, or its offer is missing or inactive (all answer 404, but a quarantined asset's 410,
    see ``is_quarantined_link``). Reads only."""
    if not is_well_formed(code):
        return None
    row = db.session.execute(_by_code(), {"code": code}).first()
    return LinkTarget(*row) if row is not None else None


def is_quarantined_link(code: str) -> bool:
    """Whether ``/l/<code>`` names a link whose asset was quarantined (410 Gone). One query: only asked
    when the visit found no target, never on the redirect path."""
    if not is_well_formed(code):
        return False
    query = select(Asset.status).join(ShortLink, ShortLink.asset_id == Asset.id).where(ShortLink.code == code)
    return db.session.scalar(query) == "quarantined"


def is_quarantined_asset(asset_id: str) -> bool:
    """Whether the asset was quarantined (the seeds' ``/l/<asset_id>?pid=`` then answers 410 Gone)."""
    if not is_well_formed(asset_id):
        return False
    return db.session.scalar(select(Asset.status).where(Asset.id == asset_id)) == "quarantined"


def resolve_asset_link(asset_id: str, partner_id: str) -> LinkTarget | None:
    """The seeds' ``/l/<asset_id>?pid=<partner_id>``: the partner's link for the asset, created when
    both exist and the asset is neither failed nor quarantined. Never creates a partner. Returns None
    as ``resolve_code`` does; the caller commits when a link was created. Idempotent."""
    if not (is_well_formed(asset_id) and is_well_formed(partner_id)):
        return None
    query = _servable_targets().where(ShortLink.asset_id == asset_id, ShortLink.partner_id == partner_id)
    row = db.session.execute(query).first()
    if row is None:
        status = db.session.scalar(select(Asset.status).where(Asset.id == asset_id))
        if status in (None, *UNSERVED_ASSET_STATUSES) or db.session.get(Partner, partner_id) is None:
            return None
        get_or_create_link(partner_id, asset_id)
        row = db.session.execute(query).first()
    return LinkTarget(*row) if row is not None else None


def subid_of(target: LinkTarget, click_id: str) -> str:
    """``partner:asset:click``: how a network's postback names the click it pays for. 36 characters
    (10 + 1 + 10 + 1 + 14): networks cap a subid at 64."""
    return f"{target.partner_id}:{target.asset_id}:{click_id}"


def destination_url(target: LinkTarget, click_id: str) -> str:
    """The offer URL with ``{subid}`` filled in (percent-encoded; ``:`` is allowed in a query). The
    destination only ever comes from the database, never from the request."""
    return target.url_template.replace(SUBID_MACRO, quote(subid_of(target, click_id), safe=":"))
