"""The world fuzzed requests land in, and visitors kept in one identity (anonymous, partner, admin)."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, settings
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from contentflow.extensions import db as _db
from contentflow.models import AdminUser, Click, Partner, PartnerAccount
from contentflow.platforms import PLATFORMS
from contentflow.services import assignments, fx, holds, ledger, links, payouts
from tests.conftest import sign_in

#: Requests per test: three identities on every route, and the hot paths: 4 x 2,500 = 10,000 a run.
REQUESTS_PER_TEST = 2_500
FUZZ = settings(
    max_examples=REQUESTS_PER_TEST,
    deadline=None,
    database=None,  # with each test's @seed: the same inputs on every run, so CI stays stable
    phases=(Phase.explicit, Phase.generate),  # failures are collected and listed, not shrunk
    suppress_health_check=list(HealthCheck),
)
#: Werkzeug drops (unclosed, until the garbage collector closes it) the spooled file of a multipart body
#: it gives up parsing halfway, e.g. a part header that is not UTF-8 after a file part: its
#: ResourceWarning is not an answer of ours.
WERKZEUG_MULTIPART_LEAK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*SpooledTemporaryFile:pytest.PytestUnraisableExceptionWarning"
)
NETWORK_SECRET = "s3cret-s3cret-s3cret"  # make_network's default
#: The session's CSRF secret; forms carry it signed (flask-wtf's scheme), so every request can pass.
CSRF_SECRET = "f" * 40
#: FX rates for currencies with 0 (JPY), 3 (BHD, KWD) and 4 (CLF) decimals, and USD; GBP has none.
RATES = (("JPY", "0.0062"), ("BHD", "2.43"), ("KWD", "2.98"), ("CLF", "42.5"), ("USD", "0.92"))


@pytest.fixture
def world(app, db, client, make_partner, make_admin, make_offer, make_asset) -> SimpleNamespace:
    """Pat (signed-in partner) with money, payouts requested and approved, a link, a click, a connected
    account, an assignment and a ticket; Sam on hold; an admin; FX rates; a conversion to review; and
    for each argument name the app uses, the values that exist."""
    pat = make_partner(
        "pat@example.com", locale="en", payout_method="paypal", payout_paypal_email="pat@example.org"
    )
    sam = make_partner("sam@example.com")
    admin = make_admin()
    offer = make_offer(revshare_pct="40")
    asset = make_asset(offer=offer)
    link = links.get_or_create_link(pat.id, asset.id)
    click = Click(
        partner_id=pat.id, asset_id=asset.id, offer_id=offer.id, ip_hash="0" * 32, visitor_hash="1" * 32
    )
    db.session.add(click)
    ledger.record_entry(pat.id, "conversion_share", 100_000, "fuzz:credit")
    db.session.commit()
    payouts.request_withdrawal(pat, 30_000, "paypal")  # over the threshold: waits for approval
    payouts.request_withdrawal(pat, 5_000, "paypal")  # approved at once
    holds.place_hold(sam.id, "manual", admin=admin)
    for currency, rate in RATES:
        fx.set_rate(currency, rate)
    db.session.add(PartnerAccount(partner_id=pat.id, platform="youtube", handle="pat", external_id="yt-1"))
    assignments.create_for(pat.id, asset.id, "youtube", approved=False)
    db.session.commit()
    _open_ticket(pat)
    fields = {"network": "acme", "token": NETWORK_SECRET, "subid": "x", "amount": "10", "txn_id": "R1"}
    client.get("/aff/postback?" + urlencode({**fields, "currency": "GBP", "status": "pending"}))
    subid = f"{pat.id}:{asset.id}:{click.id}"
    return SimpleNamespace(
        pat=pat,
        admin=admin,
        link=link,
        asset=asset,
        subid=subid,
        pools=known_values(app, {"code": [link.code], "pid": [pat.id], "subid": [subid]}),
        csrf_token=URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(CSRF_SECRET),
    )


def _open_ticket(partner: Partner) -> None:
    from plugins.support.services import tickets

    tickets.open_ticket("Where is my money?", "I was paid nothing.", partner=partner, locale="en")
    _db.session.commit()


def known_values(app: Flask, pools: dict[str, list[str]]) -> dict[str, list[str]]:
    """Existing values by argument name: ``<name>_id`` takes keys of the table ``<name>s`` or
    ``<prefix>_<name>s`` (``ticket_id``: ``support_tickets``); platforms and static files by name."""
    pools = {**pools, "platform": list(PLATFORMS), "filename": ["css/app.css", "js/app.js"]}
    names = {name for rule in app.url_map.iter_rules() for name in rule.arguments}
    names |= {"click_id", "partner_id", "asset_id", "hold_id"}
    for name in sorted(names):
        plural = name.removesuffix("_id") + "s"
        for table in _db.metadata.tables.values():
            if name.endswith("_id") and (table.name == plural or table.name.endswith("_" + plural)):
                key = next(iter(table.primary_key.columns))
                found = _db.session.scalars(select(key).order_by(key).limit(5))
                pools.setdefault(name, []).extend(str(value) for value in found)
    return pools


class Visitor:
    """A test client kept in one identity: before each request its session is put back (a fuzzed
    request may have signed it out, flashed messages or switched its language)."""

    def __init__(self, client: FlaskClient, user: Partner | AdminUser | None) -> None:
        self.client = client
        self.user = user
        self.cookie_name = client.application.config["SESSION_COOKIE_NAME"]
        self.cookie = ""
        self.sign_in_again()

    def sign_in_again(self) -> None:
        """A fresh session (after a sign-out bumped the user's session epoch)."""
        with self.client.session_transaction() as session:
            session.clear()
            session["csrf_token"] = CSRF_SECRET
        if self.user is not None:
            _db.session.refresh(self.user)
            sign_in(self.client, self.user)
        self.cookie = self.client.get_cookie(self.cookie_name).value

    def reset(self) -> None:
        self.client.set_cookie(self.cookie_name, self.cookie)
