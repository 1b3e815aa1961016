"""The partner portal (core): greeting, language choice, payout details and balances, and the entries of
the enabled plugins."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from contentflow.auth import partner_required
from contentflow.errors import DomainError, ValidationError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.plugin import NavItem
from contentflow.services import balances, links, partners, payout_details, payouts

bp = Blueprint("partner", __name__, url_prefix="/partner")

#: Core partner menu entries (rendered with the plugins' entries).
NAV: tuple[NavItem, ...] = (NavItem(_l("Payout"), "partner.payout", "partner", 90),)


class LocaleForm(FlaskForm):
    locale = SelectField(
        _l("Language"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")]
    )


METHOD_LABELS = {"paypal": _l("PayPal"), "bank": _l("Bank transfer (IBAN)")}


class PayoutDetailsForm(FlaskForm):
    method = SelectField(_l("Payout method"))
    paypal_email = EmailField(_l("PayPal e-mail"), validators=[Optional(), Length(max=254)])
    iban = StringField(_l("IBAN"), validators=[Optional(), Length(max=50)])
    account_holder = StringField(_l("Account holder"), validators=[Optional(), Length(max=70)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.method.choices = [
            (method, METHOD_LABELS.get(method, method)) for method in current_app.config["PAYOUT_METHODS"]
        ]


@bp.get("/portal")
@partner_required
def portal():
    link_count = links.count_links(current_user.id)
    return render_template(
        "partner/portal.html", locale_form=LocaleForm(locale=current_user.locale), link_count=link_count
    )


@bp.post("/locale")
@partner_required
def set_locale():
    form = LocaleForm()
    if not form.validate_on_submit():
        raise ValidationError(_("This language is not available."), code="invalid_locale")
    partners.set_locale(current_user, form.locale.data)
    db.session.commit()
    return redirect_to(url_for("partner.portal"))


def _payout_page(form: PayoutDetailsForm, status: int = 200, saved: bool = False):
    partner = current_user
    return render_page_or_partial(
        "partner/payout.html",
        "partner/_payout_details.html",
        status=status,
        form=form,
        saved=saved,
        balances=balances.get_balances(partner.id),
        payouts=payouts.list_payouts(partner_id=partner.id, limit=50),
        status_labels=payouts.STATUS_LABELS,
        method_labels=METHOD_LABELS,
        masked={
            m: payout_details.masked_destination(partner, m) for m in current_app.config["PAYOUT_METHODS"]
        },
        minimum_cents=payouts.minimum_cents(),
    )


@bp.get("/payout")
@partner_required
def payout():
    return _payout_page(PayoutDetailsForm(method=current_user.payout_method))


@bp.post("/payout")
@partner_required
def save_payout_details():
    form = PayoutDetailsForm()
    if not form.validate_on_submit():
        return _payout_page(form, status=400)
    try:
        changed = payout_details.set_payout_details(
            current_user,
            form.method.data,
            paypal_email=form.paypal_email.data or "",
            iban=form.iban.data or "",
            account_holder=form.account_holder.data or "",
        )
    except payout_details.InvalidPayoutDetails as error:
        getattr(form, error.field).errors = [error.message]
        return _payout_page(form, status=error.status)
    except DomainError as error:
        form.method.errors = [error.message]
        return _payout_page(form, status=error.status)
    db.session.commit()
    if is_partial_request():
        return _payout_page(PayoutDetailsForm(method=current_user.payout_method), saved=changed)
    if changed:
        flash(_("Your payout details are saved. We sent you an e-mail about the change."), "success")
    return redirect_to(url_for("partner.payout"))
