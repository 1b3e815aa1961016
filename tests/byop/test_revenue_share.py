"""A BYOP post closes the loop click -> postback -> ledger: a confirmed sale through the partner's short
link credits ``BYOP_DEFAULT_REVSHARE_PCT`` of it (the asset's share, over the offer's own)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from contentflow.jobs.clicks import flush_clicks
from contentflow.models import LedgerEntry, ShortLink
from contentflow.services import links
from plugins.byop.models import Submission
from tests.conftest import csrf_token_of, sign_in

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SECRET = "s3cret-s3cret-s3cret"  # make_network's default


def test_a_confirmed_sale_through_the_posts_link_credits_the_byop_share(make_app, db, partner, make_offer):
    offer = make_offer("Acme rev", cpc_cents=None, revshare_pct="30")
    app = make_app(BYOP_DEFAULT_REVSHARE_PCT=Decimal("0.35"))
    client = app.test_client()
    sign_in(client, partner)
    token = csrf_token_of(client, "/byop/new")
    data = {"title": "Trois outils IA", "offer": str(offer.id), "csrf_token": token}
    assert client.post("/byop/submit", data=data).status_code == 303
    [made] = db.session.scalars(select(Submission)).all()
    assert client.get(f"/byop/kit?id={made.id}").status_code == 200  # the kit makes the short link
    link = db.session.scalar(select(ShortLink).where(ShortLink.asset_id == made.asset_id))
    assert link.partner_id == partner.id

    visitor = app.test_client()
    redirect = visitor.get(urlsplit(links.short_url(link)).path, headers={"User-Agent": BROWSER})
    assert redirect.status_code == 302
    subid = redirect.headers["Location"].rsplit("sub=", 1)[1]
    assert subid.startswith(f"{partner.id}:{made.asset_id}:")
    assert flush_clicks() == "flushed 1 clicks"

    fields = {"network": "acme", "token": SECRET, "subid": subid, "amount": "10.00", "currency": "EUR"}
    fields.update(status="confirmed", txn_id="T-byop-1")
    assert visitor.get("/aff/postback?" + urlencode(fields)).status_code == 200
    entries = db.session.execute(
        select(LedgerEntry.kind, LedgerEntry.amount_cents).where(LedgerEntry.partner_id == partner.id)
    ).all()
    assert [tuple(entry) for entry in entries] == [("conversion_share", 350)]  # 35 %, not the offer's 30 %
