"""Odd input on the operator pages never reaches the database as a 500: ids beyond BIGINT are 404,
NUL bytes in a reason or a partner id are a 400 that changes nothing, impossible audit filters match
nothing."""

from __future__ import annotations

import pytest

from contentflow.services import holds
from tests.risk.test_ops_holds import active_holds, post

BEYOND_BIGINT = str(2**63)


@pytest.mark.parametrize("hold_id", [BEYOND_BIGINT, str(10**30), "0", "-5"])
def test_unhold_of_an_impossible_hold_id_is_404(staff, db, held_partner, hold_id):
    assert post(staff, "/ops/unhold", hold_id=hold_id, reason="x").status_code == 404
    assert len(active_holds(db, held_partner)) == 1


def test_unhold_of_a_hold_id_that_is_no_number_is_400(staff, db, held_partner):
    assert post(staff, "/ops/unhold", hold_id="abc", reason="x").status_code == 400
    assert len(active_holds(db, held_partner)) == 1


@pytest.mark.parametrize("hold_id", [BEYOND_BIGINT, str(10**30)])
def test_extending_an_impossible_hold_id_is_404(staff, db, hold_id):
    assert post(staff, f"/ops/holds/{hold_id}/extend", days="3", reason="x").status_code == 404


@pytest.mark.parametrize("field", ["partner_id", "pid"])
def test_unhold_of_a_partner_id_with_a_nul_byte_is_400(staff, db, held_partner, field):
    response = post(staff, "/ops/unhold", **{field: f"{held_partner.id}\x00"}, reason="x")
    assert response.status_code == 400
    assert len(active_holds(db, held_partner)) == 1


def test_unhold_with_a_nul_byte_in_the_reason_is_400_and_lifts_nothing(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    response = post(staff, "/ops/unhold", hold_id=hold.id, reason="checked\x00")
    assert response.status_code == 400  # refused at the edge (contentflow.views.edge)
    assert "NUL byte" in response.get_data(as_text=True)
    assert len(active_holds(db, held_partner)) == 1


def test_extend_with_a_nul_byte_in_the_reason_is_400_and_changes_nothing(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    before = hold.expires_at
    assert post(staff, f"/ops/holds/{hold.id}/extend", days="3", reason="x\x00").status_code == 400
    db.session.refresh(hold)
    assert hold.expires_at == before


def test_impossible_audit_filters_show_nothing(staff, held_partner):
    response = staff.get(f"/ops/audit?admin={BEYOND_BIGINT}")
    assert response.status_code == 200
    assert "Nothing matches." in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["?partner=a%00b", "?action=hold.place%00"])
def test_audit_filters_with_a_nul_byte_are_400(staff, held_partner, query):
    assert staff.get(f"/ops/audit{query}").status_code == 400  # refused at the edge
