"""The withdraw form: an amount in euros (``12.50`` or ``12,50``) and a payout method.

The form only checks that something was typed; the rules (an amount, the minimum, the balance, the
method, holds, payout details) are the core's: ``money.parse_euros`` and ``payouts.request_withdrawal``.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

#: The same words as the payout details page (one translation).
METHOD_LABELS = {"paypal": _l("PayPal"), "bank": _l("Bank transfer (IBAN)")}


class WithdrawForm(FlaskForm):
    """``amount`` (text: the core parses euros) and ``method`` (any value: the core checks it)."""

    amount = StringField(
        _l("Amount (€)"), validators=[DataRequired(_l("Enter an amount in euros.")), Length(max=40)]
    )
    # The core service says whether a method is offered, with its own message.
    method = SelectField(_l("Payout method"), validate_choice=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.method.choices = [
            (method, METHOD_LABELS.get(method, method)) for method in current_app.config["PAYOUT_METHODS"]
        ]
