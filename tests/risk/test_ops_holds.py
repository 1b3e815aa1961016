"""The operator pages at /ops, behind the admin login; held partners (e-mail, rule, figure, since/until)
with lift and extend, and POST /ops/unhold (admins, CSRF, a reason; a GET changes nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from contentflow.models import AuditLog, Hold
from contentflow.models.base import utcnow
from contentflow.services import holds
from tests.conftest import csrf_token_of, sign_in


def active_holds(db, partner) -> list[Hold]:
    db.session.expire_all()
    return [h for h in holds.list_holds(partner.id) if h.lifted_at is None and h.expires_at > utcnow()]


def post(client, path: str, headers: dict | None = None, **fields):
    token = csrf_token_of(client, "/ops/holds") if fields.pop("with_csrf", True) else None
    data = {**fields, **({"csrf_token": token} if token else {})}
    return client.post(path, data=data, headers=headers or {})


# --- /ops/holds -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ops/holds", "/ops/payouts/pending", "/ops/audit"])
@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("partner", 403), ("admin", 200)])
def test_operator_pages_are_for_admins_only(app, db, partner, admin, path, who, status):
    client = app.test_client()
    if who != "anonymous":
        sign_in(client, partner if who == "partner" else admin)
    response = client.get(path)
    assert response.status_code == status
    if who == "anonymous":
        assert response.headers["Location"] == f"/admin/login?next={path}"


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_holds_page_shows_email_rule_figure_and_dates(staff, held_partner, is_htmx):
    hold = holds.active_hold(held_partner.id)
    response = staff.get("/ops/holds", headers={"HX-Request": "true"} if is_htmx else {})
    page = response.get_data(as_text=True)
    assert 'id="risk-holds"' in page
    assert "pat@example.com" in page and "click velocity" in page
    assert "52 clicks in 10 minutes (threshold 40)" in page
    assert (
        hold.created_at.strftime("%Y-%m-%d %H:%M") in page
        and hold.expires_at.strftime("%Y-%m-%d %H:%M") in page
    )
    assert ("<html" in page) is not is_htmx


def test_holds_page_lists_admin_holds_with_their_detail(staff, db, partner):
    holds.place_hold(partner.id, "manual", detail="chargebacks <b>reported</b>")
    db.session.commit()
    page = staff.get("/ops/holds").get_data(as_text=True)
    assert "chargebacks &lt;b&gt;reported&lt;/b&gt;" in page


def test_holds_page_leaves_out_lifted_and_expired_holds(staff, db, partner, make_partner, admin):
    lifted = holds.place_hold(partner.id, "manual")
    holds.lift_hold(lifted, admin)
    other = make_partner("gone@example.com")
    holds.place_hold(other.id, "manual", days=1, now=utcnow() - timedelta(days=2))
    db.session.commit()
    page = staff.get("/ops/holds").get_data(as_text=True)
    assert "pat@example.com" not in page and "gone@example.com" not in page


def test_admin_unholds_one_hold_with_a_reason(staff, db, held_partner, admin):
    hold = holds.active_hold(held_partner.id)
    response = post(staff, "/ops/unhold", hold_id=hold.id, reason="checked: a real viral post")
    assert (response.status_code, response.headers["Location"]) == (303, "/ops/holds")
    assert active_holds(db, held_partner) == []
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "hold.lift")).one()
    assert (entry.admin_user_id, entry.details["note"]) == (admin.id, "checked: a real viral post")


def test_htmx_unhold_answers_the_holds_partial(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    response = post(staff, "/ops/unhold", headers={"HX-Request": "true"}, hold_id=hold.id, reason="ok")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="risk-holds"')
    assert "Nobody is on hold." in page


@pytest.mark.parametrize("field", ["partner_id", "pid"])
def test_unhold_by_partner_lifts_every_active_hold(staff, db, held_partner, field):
    holds.place_hold(held_partner.id, "manual")
    db.session.commit()
    post(staff, "/ops/unhold", **{field: held_partner.id}, reason="all clear")
    assert active_holds(db, held_partner) == []


@pytest.mark.parametrize("is_htmx", [False, True], ids=["plain", "htmx"])
def test_unhold_without_a_reason_is_refused_with_400(staff, db, held_partner, is_htmx):
    hold = holds.active_hold(held_partner.id)
    headers = {"HX-Request": "true"} if is_htmx else {}
    response = post(staff, "/ops/unhold", headers=headers, hold_id=hold.id, reason=" ")
    assert response.status_code == 400
    assert "Say why" in response.get_data(as_text=True)
    assert len(active_holds(db, held_partner)) == 1


def test_unhold_naming_nothing_is_refused_with_400(staff, db, held_partner):
    assert post(staff, "/ops/unhold", reason="why not").status_code == 400
    assert len(active_holds(db, held_partner)) == 1


def test_unhold_of_a_partner_not_on_hold_is_a_conflict(staff, db, partner):
    assert post(staff, "/ops/unhold", partner_id=partner.id, reason="x").status_code == 409


def test_unhold_of_a_lifted_hold_is_a_conflict(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    post(staff, "/ops/unhold", hold_id=hold.id, reason="ok")
    assert post(staff, "/ops/unhold", hold_id=hold.id, reason="again").status_code == 409


def test_get_cannot_unhold(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    response = staff.get(f"/ops/unhold?pid={held_partner.id}&hold_id={hold.id}&reason=x")
    assert response.status_code == 405
    assert len(active_holds(db, held_partner)) == 1


def test_unhold_without_csrf_token_changes_nothing(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    response = post(staff, "/ops/unhold", with_csrf=False, hold_id=hold.id, reason="x")
    assert response.status_code == 400
    assert len(active_holds(db, held_partner)) == 1


def test_partner_cannot_unhold_themselves(app, db, held_partner):
    client = app.test_client()
    sign_in(client, held_partner)
    token = csrf_token_of(client, "/partner/portal")
    hold = holds.active_hold(held_partner.id)
    response = client.post("/ops/unhold", data={"hold_id": hold.id, "reason": "me", "csrf_token": token})
    assert response.status_code == 403
    assert len(active_holds(db, held_partner)) == 1


def test_admin_extends_a_hold_with_a_reason(staff, db, held_partner, admin):
    hold = holds.active_hold(held_partner.id)
    before = hold.expires_at
    response = post(staff, f"/ops/holds/{hold.id}/extend", days="10", reason="still checking")
    assert response.status_code == 303
    db.session.refresh(hold)
    assert hold.expires_at == before + timedelta(days=10)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "hold.extend")).one()
    assert entry.admin_user_id == admin.id
    assert entry.details["before"] == {"expires_at": before.isoformat()}
    assert entry.details["after"] == {"expires_at": hold.expires_at.isoformat()}


def test_htmx_extend_answers_the_holds_partial(staff, db, held_partner):
    hold = holds.active_hold(held_partner.id)
    response = post(
        staff, f"/ops/holds/{hold.id}/extend", headers={"HX-Request": "true"}, days="3", reason="x"
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<section id="risk-holds"')


@pytest.mark.parametrize(("days", "reason"), [("0", "x"), ("", "x"), ("abc", "x"), ("5", "")])
def test_bad_extension_is_refused_with_400(staff, db, held_partner, days, reason):
    hold = holds.active_hold(held_partner.id)
    before = hold.expires_at
    assert post(staff, f"/ops/holds/{hold.id}/extend", days=days, reason=reason).status_code == 400
    db.session.refresh(hold)
    assert hold.expires_at == before


def test_extending_an_unknown_hold_is_404(staff, db):
    assert post(staff, "/ops/holds/999999/extend", days="3", reason="x").status_code == 404


def test_operator_pages_are_in_the_admin_menu(staff):
    page = staff.get("/admin/").get_data(as_text=True)
    assert all(f'href="{path}"' in page for path in ("/ops/holds", "/ops/payouts/pending", "/ops/audit"))
