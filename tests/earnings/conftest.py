"""Earnings plugin fixtures: Pat reading English, a funded partner with payout details, ledger entries at
chosen times, and Pat's seeded ledger (sales, a reversal, withdrawals, clicks)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask_babel import force_locale

from contentflow.models import LedgerEntry, Partner
from contentflow.money import format_money
from contentflow.services import ledger, payouts
from tests.conftest import add_click

#: When this test run started (the seeded ledger's clock).
NOW = datetime.now(UTC)
#: Credited long ago: outside the 30-day reserve, so all of it is available.
LONG_AGO = NOW - timedelta(days=60)


@pytest.fixture
def partner(make_partner) -> Partner:
    """Pat, who chose English: these tests read the pages' English wording (French is the default)."""
    return make_partner(
        "pat@example.com",
        display_name="Pat",
        locale="en",
        payout_method="paypal",
        payout_paypal_email="pat.paypal@example.com",
    )


@pytest.fixture
def make_entry(db) -> Callable[..., LedgerEntry]:
    """A committed ledger entry of ``partner`` (default: a 50.00 € sale share credited long ago)."""

    def build(
        partner: Partner,
        cents: int = 5_000,
        *,
        kind: str = "conversion_share",
        at: datetime = LONG_AGO,
        **fields: Any,
    ) -> LedgerEntry:
        entry = ledger.record_entry(
            partner.id, kind, cents, f"test:{uuid.uuid4().hex}", created_at=at, **fields
        )
        db.session.commit()
        return entry

    return build


@pytest.fixture
def funded(partner, make_entry) -> Partner:
    """Pat with 100.00 € available."""
    make_entry(partner, 10_000)
    return partner


def english(cents: int | None) -> str:
    """``cents`` as the English pages show them (``€12.50``)."""
    with force_locale("en"):
        return format_money(cents)


@pytest.fixture
def asset(make_asset, make_offer):
    """A video promoting a CPC offer."""
    return make_asset("Three AI tools", offer=make_offer())


@pytest.fixture
def seeded(db, funded, make_entry, asset, admin):
    """Pat's ledger: 100 € long ago, recent click earnings and a sale, a reversal, a paid and a pending
    withdrawal; billable clicks today and 3 days ago."""
    make_entry(funded, 1_234, kind="click_earnings", at=NOW - timedelta(days=3))
    make_entry(funded, 2_000, at=NOW - timedelta(days=2))
    make_entry(funded, -300, kind="reversal", at=NOW - timedelta(days=1))
    paid = payouts.request_withdrawal(funded, 2_500, "paypal", now=NOW - timedelta(days=1))
    payouts.mark_paid(paid.id, admin, "PP-1")
    payouts.request_withdrawal(funded, 1_500, "paypal", now=NOW - timedelta(hours=1))
    for at in (NOW - timedelta(days=3), NOW - timedelta(days=3), NOW - timedelta(minutes=5)):
        add_click(db, funded, asset, at)
    add_click(db, funded, asset, NOW - timedelta(minutes=5), billable=False)
    db.session.commit()
    return funded
