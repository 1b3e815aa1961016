"""BYOP and share kit fixtures: an English-speaking partner, an active offer, submissions, accounts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contentflow.models import Partner, PartnerAccount


@pytest.fixture
def partner(make_partner) -> Partner:
    """Pat, who chose English: these tests read the pages' English wording (French is the default)."""
    return make_partner("pat@example.com", display_name="Pat", locale="en")


@pytest.fixture
def offer(make_offer):
    return make_offer("Acme CPC", cpc_cents=12)


@pytest.fixture
def make_submission(db, offer) -> Callable[..., Any]:
    from plugins.byop import services

    def build(partner: Partner, title: str = "Trois outils IA", **fields: Any):
        fields.setdefault("cta", "Try it:")
        fields.setdefault("hashtags", "#ia #tools")
        submission = services.create_submission(partner.id, title=title, **fields)
        db.session.commit()
        return submission

    return build


@pytest.fixture
def make_account(db) -> Callable[..., PartnerAccount]:
    def build(partner: Partner, platform: str, handle: str = "pat", **fields: Any) -> PartnerAccount:
        account = PartnerAccount(
            partner_id=partner.id,
            platform=platform,
            handle=handle,
            external_id=f"{platform}-{handle}",
            access_token="token",
            token_expires_at=datetime.now(UTC) + timedelta(days=30),
            **fields,
        )
        db.session.add(account)
        db.session.commit()
        return account

    return build
