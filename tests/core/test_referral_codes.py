"""Referral codes (core): every partner has a public random code, never their id; ``/partners?ref=<code>``
is remembered until the magic-link sign-up, which records the referrer of a new partner (an unknown code
is ignored); nobody refers themselves and referrals never loop."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contentflow.errors import Conflict, ValidationError
from contentflow.models import Partner
from contentflow.services import partners
from tests.conftest import csrf_token_of


def sign_up(client, email: str, ref: str | None = None) -> Partner:
    """Open the landing (with ``?ref=``), then ask for a sign-in link as a browser would."""
    client.get("/partners" + (f"?ref={ref}" if ref is not None else ""))
    token = csrf_token_of(client)
    response = client.post("/partner/magic", data={"email": email, "csrf_token": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    return partners.find_partner_by_email(email)


@pytest.fixture
def referrer(make_partner) -> Partner:
    return make_partner("ref@example.com")


def test_every_partner_gets_a_random_referral_code_that_is_not_their_id(make_partner):
    first, second = make_partner(), make_partner()

    assert len(first.referral_code) == 10 and first.referral_code.isalnum()
    assert first.referral_code != first.id
    assert first.referral_code != second.referral_code


def test_new_partner_from_a_referral_link_records_the_referrer(client, db, referrer):
    newcomer = sign_up(client, "new@example.com", referrer.referral_code)

    assert newcomer.referrer_id == referrer.id


def test_referral_code_in_capitals_still_finds_the_referrer(client, db, referrer):
    assert sign_up(client, "new@example.com", referrer.referral_code.upper()).referrer_id == referrer.id


def test_the_code_is_forgotten_after_the_sign_up_it_brought(client, db, referrer):
    sign_up(client, "new@example.com", referrer.referral_code)

    second = sign_up(client, "other@example.com")

    assert second.referrer_id is None


@pytest.mark.parametrize("ref", ["nosuchcode", "", "<script>", "é" * 5, "x" * 40])
def test_unknown_or_malformed_code_is_ignored(client, db, referrer, ref):
    newcomer = sign_up(client, "new@example.com", ref)

    assert newcomer is not None and newcomer.referrer_id is None


def test_a_partner_id_is_not_a_referral_code(client, db, referrer):
    assert sign_up(client, "new@example.com", referrer.id).referrer_id is None


def test_existing_partner_keeps_no_referrer_through_a_referral_link(client, db, referrer, make_partner):
    existing = make_partner("old@example.com")

    sign_up(client, "old@example.com", referrer.referral_code)

    db.session.refresh(existing)
    assert existing.referrer_id is None


def test_partner_signing_in_through_their_own_link_is_not_their_own_referrer(client, db, referrer):
    sign_up(client, "ref@example.com", referrer.referral_code)

    db.session.refresh(referrer)
    assert referrer.referrer_id is None


def test_self_referral_is_refused(db, referrer):
    with pytest.raises(ValidationError) as refused:
        partners.set_referrer(referrer, referrer)
    assert refused.value.code == "self_referral"


@pytest.mark.parametrize("depth", [1, 3])
def test_referral_loop_is_refused(db, make_partner, depth):
    chain = [make_partner() for _ in range(depth + 1)]
    for child, parent in zip(chain, chain[1:], strict=False):
        partners.set_referrer(child, parent)  # chain[0] <- ... each referred by the next

    with pytest.raises(ValidationError) as refused:
        partners.set_referrer(chain[-1], chain[0])
    assert refused.value.code == "referral_loop"
    assert chain[-1].referrer_id is None


def test_a_referrer_is_set_once(db, make_partner, referrer):
    newcomer = make_partner()
    partners.set_referrer(newcomer, referrer)
    partners.set_referrer(newcomer, referrer)  # the same again: nothing to do

    with pytest.raises(Conflict):
        partners.set_referrer(newcomer, make_partner())
    assert newcomer.referrer_id == referrer.id


def test_referral_codes_are_unique_in_the_database(db, make_partner, referrer):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(Partner(email="twin@example.com", referral_code=referrer.referral_code))
        db.session.flush()


def test_find_by_referral_code_finds_only_that_partner(db, referrer, make_partner):
    make_partner()
    assert partners.find_by_referral_code(referrer.referral_code) == referrer
    assert partners.find_by_referral_code(referrer.id) is None
    assert db.session.scalar(select(Partner.id).where(Partner.referral_code.is_(None))) is None
