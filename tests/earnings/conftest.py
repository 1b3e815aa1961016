"""Earnings plugin fixtures: Pat reading English, a funded partner with payout details, ledger entries and
clicks at chosen times, a referrer and the partner they brought."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contentflow.models import LedgerEntry, Partner
from contentflow.services import ledger

#: Credited long ago: outside the 30-day reserve, so all of it is available.
LONG_AGO = datetime.now(UTC) - timedelta(days=60)


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
