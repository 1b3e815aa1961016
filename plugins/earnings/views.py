"""The earnings pages under ``/partners`` (seed 002's URLs): the landing's pitch (a slot of the core's
``/partners``), the public leaderboard and FAQ, and the signed-in partner's earnings page with its
withdraw form, which calls the core's ``payouts.request_withdrawal``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from contentflow.auth import partner_required
from contentflow.errors import ValidationError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Partner
from contentflow.money import format_money, format_percent, parse_euros
from contentflow.plugin import plugin_registry
from contentflow.services import balances, payout_details, payouts
from plugins.earnings import charts
from plugins.earnings.forms import METHOD_LABELS, WithdrawForm
from plugins.earnings.services import leaderboard as boards
from plugins.earnings.services import referrals, statement

bp = Blueprint("earnings", __name__, url_prefix="/partners")

#: What the withdraw form answers 400 to, whatever the core error's own status (409 for the balance,
#: 403 for a hold): each is the partner's input refused, shown on the form.
REFUSALS = (ValidationError, payouts.InsufficientBalance, payouts.PartnerOnHold)
#: Which form field shows which refusal; the others show above the form.
REFUSAL_FIELDS = {
    "invalid_amount": "amount",
    "below_minimum": "amount",
    "insufficient_balance": "amount",
    "unknown_method": "method",
    "missing_details": "method",
}


def signed_in_partner() -> Partner | None:
    """The signed-in partner, or None (anonymous visitors and admins)."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    return user if isinstance(user, Partner) else None


def referral_percent() -> str:
    """``REFERRAL_BONUS_PCT`` as the percent people read, in their language (0.10 -> ``10``, 0.125 ->
    ``12,5`` in French): a Decimal, never a float."""
    return format_percent(current_app.config["REFERRAL_BONUS_PCT"])


def payout_terms() -> dict[str, Any]:
    """The settings every page quotes: payout minimum, methods, reserve, referral bonus."""
    config = current_app.config
    return {
        "minimum_cents": payouts.minimum_cents(),
        "approval_cents": payouts.approval_threshold_cents(),
        "method_names": [str(METHOD_LABELS.get(method, method)) for method in config["PAYOUT_METHODS"]],
        "reserve_percent": format_percent(config["PAYOUT_RESERVE_PCT"]),
        "release_days": config["PAYOUT_RELEASE_DAYS"],
        "has_referral_bonus": referrals.bonus_bps() > 0 and referrals.bonus_days() > 0,
        "referral_percent": referral_percent(),
        "referral_days": referrals.bonus_days(),
    }


def render_pitch(**_context: Any) -> str:
    """The ``landing.pitch`` slot: the headline CPC, the payout terms, links to the leaderboard and FAQ."""
    return render_template("earnings/_pitch.html", offer=balances.current_offer(), **payout_terms())


@bp.get("/leaderboard")
def leaderboard():
    """Public: the top 20 by ``?by=clicks|earnings`` over ``?days=`` (1-90, clamped with a note)."""
    period = boards.clamp_days(request.args.get("days"))
    metric = boards.choose_metric(request.args.get("by"))
    partner = signed_in_partner()
    board = boards.top_partners(metric, period.days, me_id=partner.id if partner else None)
    return render_page_or_partial(
        "earnings/leaderboard.html", "earnings/_leaderboard.html", board=board, period=period
    )


@bp.get("/faq")
def faq():
    """Public: seed 002's questions, answered with the settings (and the partner's balances)."""
    partner = signed_in_partner()
    return render_template(
        "earnings/faq.html",
        offer=balances.current_offer(),
        balances=balances.get_balances(partner.id) if partner else None,
        share_link=referrals.share_link(partner) if partner else None,
        has_publish=plugin_registry().is_enabled("publish"),
        byop_percent=format_percent(current_app.config["BYOP_DEFAULT_REVSHARE_PCT"]),
        **payout_terms(),
    )


# --- the earnings page: sections, each a partial the page includes ------------------------------------


def _wallet(
    figures: balances.Balances, partner: Partner, form: WithdrawForm, withdrawn: Any
) -> dict[str, Any]:
    return {
        "balances": figures,
        "payouts": payouts.list_payouts(partner_id=partner.id, limit=20),
        "status_labels": payouts.STATUS_LABELS,
        "form": form,
        "withdrawn": withdrawn,
        "masked": {
            method: payout_details.masked_destination(partner, method)
            for method in current_app.config["PAYOUT_METHODS"]
        },
        "method_labels": METHOD_LABELS,
        **payout_terms(),
    }


def _activity(partner: Partner, days: int) -> dict[str, Any]:
    activity = statement.daily_activity(partner.id, days)
    return {
        "activity": activity,
        "periods": statement.PERIODS,
        "epc_cents": balances.current_offer(partner.id).epc_cents,
        "earnings_chart": charts.column_chart([day.earnings_cents for day in activity.series]),
        "clicks_chart": charts.column_chart([day.click_count for day in activity.series]),
    }


def _assets(figures: balances.Balances, partner: Partner) -> dict[str, Any]:
    lines = statement.earnings_by_asset(partner.id, figures.confirmed_cents)
    return {"asset_lines": lines, "assets_chart": charts.row_chart([line.cents for line in lines])}


def _entries(partner: Partner, page: int) -> dict[str, Any]:
    shown = statement.ledger_page(partner.id, page)
    return {
        "entries": shown.entries,
        "page_number": shown.number,
        "has_next": shown.has_next,
        "kind_labels": statement.KIND_LABELS,
    }


def _earnings_response(section: str, status: int = 200, **given: Any) -> Response:
    """The earnings page, or for htmx only ``section``'s partial (only its figures computed)."""
    partner = signed_in_partner()
    days = given.get("days") or statement.choose_period(request.args.get("days"))
    page = given.get("page") or statement.choose_page(request.args.get("page"))
    figures = functools.cache(lambda: balances.get_balances(partner.id))
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "wallet": lambda: _wallet(
            figures(),
            partner,
            given.get("form") or WithdrawForm(formdata=None, method=partner.payout_method),
            given.get("withdrawn"),
        ),
        "activity": lambda: _activity(partner, days),
        "assets": lambda: _assets(figures(), partner),
        "entries": lambda: _entries(partner, page),
        "referrals": lambda: {"referral": referrals.summary(partner)},
    }
    context: dict[str, Any] = {}
    for name in [section] if is_partial_request() else builders:
        context.update(builders[name]())
    return render_page_or_partial("earnings/earnings.html", f"earnings/_{section}.html", status, **context)


@bp.get("/earnings")
@partner_required
def earnings_page():
    """The signed-in partner's earnings: activity, balances and withdrawals, videos, ledger, referrals."""
    return _earnings_response("activity")


@bp.get("/earnings/activity")
@partner_required
def activity():
    """The activity section over ``?days=30|90`` (htmx), or the page showing it."""
    return _earnings_response("activity")


@bp.get("/earnings/entries")
@partner_required
def entries():
    """Page ``?page=`` of the ledger (htmx), or the page showing it."""
    return _earnings_response("entries")


@bp.get("/earnings/ledger.csv")
@partner_required
def ledger_csv():
    """The partner's whole ledger as a CSV download."""
    response = Response(statement.ledger_csv(signed_in_partner().id), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="contentflow-ledger.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/withdraw")
@partner_required
def withdraw():
    """Ask the core for a withdrawal: 303 to the earnings page (htmx: the wallet, updated), or 400 with
    the form and the reason, whatever the refusal."""
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _earnings_response("wallet", 400, form=form)
    try:
        amount_cents = parse_euros(form.amount.data)
        payout = payouts.request_withdrawal(signed_in_partner(), amount_cents, form.method.data or "")
    except REFUSALS as error:
        db.session.rollback()
        field = REFUSAL_FIELDS.get(error.code)
        (getattr(form, field).errors if field else form.form_errors).append(error.message)
        return _earnings_response("wallet", 400, form=form)
    db.session.commit()
    if is_partial_request():
        response = _earnings_response("wallet", withdrawn=payout)
        response.headers["HX-Trigger"] = "earnings:withdrawn"
        return response
    flash(
        _("Your withdrawal of %(amount)s is requested.", amount=format_money(payout.amount_cents)), "success"
    )
    return redirect_to(url_for("earnings.earnings_page"))
