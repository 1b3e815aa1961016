"""Where a partner's money goes: PayPal e-mail or bank account (IBAN and holder), encrypted at rest
(``EncryptedText`` columns), masked wherever shown, decrypted for use only in the payment file.

IBANs are checked the ISO 13616 way: 15 to 34 characters (country code, two check digits, account
number), then the ISO 7064 mod-97-10 checksum: move the first four characters to the end, turn letters
into numbers (A=10 ... Z=35); the number modulo 97 must be 1. That catches every single wrong character
and almost every swap of two. No bank-registry look-up (no network call, no extra dependency).
"""

from __future__ import annotations

import csv
import io
import re

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from contentflow.errors import Conflict, ValidationError
from contentflow.extensions import db
from contentflow.models import AdminUser, Partner, Payout
from contentflow.money import from_cents
from contentflow.services import audit, mail
from contentflow.services.mail import Message
from contentflow.services.partners import lock_partner, normalize_email

IBAN_FORMAT = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
#: PayPal's payout file (Payouts web upload) has no header row: email, amount, currency, id, note.
PAYPAL_COLUMNS = ("email", "amount", "currency", "unique_id", "note")
#: The bank file has a header row.
BANK_COLUMNS = ("name", "iban", "amount", "currency", "reference")
#: A spreadsheet would run a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidPayoutDetails(ValidationError):
    """Bad payout details; ``field`` names the form field at fault."""

    code = "invalid_details"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownMethod(ValidationError):
    code = "unknown_method"


def check_method(method: str) -> None:
    """Raises UnknownMethod unless ``method`` is one of ``PAYOUT_METHODS``."""
    if method not in current_app.config["PAYOUT_METHODS"]:
        raise UnknownMethod(_("This payout method is not offered."))


def normalize_iban(raw: str) -> str:
    """Spaces and dashes removed, upper-cased, checksum verified. Raises InvalidPayoutDetails."""
    iban = re.sub(r"[\s-]", "", raw or "").upper()
    if not IBAN_FORMAT.match(iban) or not iban_checksum_is_valid(iban):
        raise InvalidPayoutDetails(
            _("This IBAN is not valid: check it on your bank statement."), field="iban"
        )
    return iban


def iban_checksum_is_valid(iban: str) -> bool:
    """The ISO 7064 mod-97-10 check of an upper-case, alphanumeric IBAN."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def mask_email(email: str) -> str:
    """``paul@example.com`` -> ``p***@example.com``."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_iban(iban: str) -> str:
    """``FR7630006000011234567890189`` -> ``FR76 **** **** 0189`` (the length is not revealed)."""
    return f"{iban[:4]} **** **** {iban[-4:]}"


def masked_destination(partner: Partner, method: str) -> str | None:
    """What may be shown of the partner's details for ``method``, or None when they have none."""
    if method == "paypal" and partner.payout_paypal_email:
        return "PayPal " + mask_email(partner.payout_paypal_email)
    if method == "bank" and partner.payout_iban and partner.payout_account_holder:
        return mask_iban(partner.payout_iban)
    return None


def _has_open_payout(partner_id: str) -> bool:
    return (
        db.session.scalar(
            select(Payout.id)
            .where(Payout.partner_id == partner_id, Payout.status.in_(("requested", "approved")))
            .limit(1)
        )
        is not None
    )


def set_payout_details(
    partner: Partner, method: str, *, paypal_email: str = "", iban: str = "", account_holder: str = ""
) -> bool:
    """Save the details of ``method`` and make it the partner's preferred method; the other method's
    details stay. When anything changed, the partner is e-mailed (after the commit). Returns whether
    anything changed (saving the same details again is a no-op).

    Raises UnknownMethod, InvalidPayoutDetails (with its ``field``), or Conflict while a withdrawal is
    open (its money goes to the details it was requested with).
    """
    check_method(method)
    if method == "paypal":
        if not (paypal_email or "").strip():
            raise InvalidPayoutDetails(_("Enter your PayPal e-mail."), field="paypal_email")
        try:
            new = {"payout_paypal_email": normalize_email(paypal_email)}
        except ValidationError as error:
            raise InvalidPayoutDetails(error.message, field="paypal_email") from None
    else:
        holder = " ".join((account_holder or "").split())
        if not 2 <= len(holder) <= 70:
            raise InvalidPayoutDetails(
                _("Enter the account holder's name as the bank knows it (70 characters at most)."),
                field="account_holder",
            )
        new = {"payout_iban": normalize_iban(iban), "payout_account_holder": holder}
    new["payout_method"] = method
    if all(getattr(partner, name) == value for name, value in new.items()):
        return False
    lock_partner(partner.id)  # a withdrawal being requested now waits, or is seen below
    if _has_open_payout(partner.id):
        raise Conflict(
            _("A withdrawal is in progress: change your details once it is paid or rejected."),
            code="details_locked",
        )
    for name, value in new.items():
        setattr(partner, name, value)
    db.session.flush()
    mail.queue_message(details_changed_message(partner))
    return True


def details_changed_message(partner: Partner) -> Message:
    """The e-mail telling the partner their payout details changed, in their language, masked."""
    shown = masked_destination(partner, partner.payout_method or "") or ""
    with force_locale(partner.locale):
        return Message(
            to=partner.email,
            subject=_("Your payout details changed"),
            text=_(
                "Hello,\n\nThe payout details of your ContentFlow account were changed to: %(details)s.\n\n"
                "If you did not make this change, sign in, correct them and reply to this e-mail at once.",
                details=shown,
            ),
            tag="payout_details",
        )


# --- the payment file ----------------------------------------------------------------------------------


def _cell(value: str) -> str:
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def approved_payouts_csv(method: str, admin: AdminUser) -> tuple[str, list[int]]:
    """The approved payouts of ``method`` as a payment file, and the payout ids in it. Audit-logged.

    PayPal (Payouts web upload, no header row): email, amount, currency, unique id (``CF-<payout>``),
    note. Bank (header row): name, iban, amount, currency, reference (``CF-<payout>``). Amounts are
    ``12.34`` in EUR. Cells a spreadsheet would run as formulas start with a quote. Payouts whose
    partner has no details for the method any more are left out. Raises UnknownMethod.
    """
    check_method(method)
    rows = db.session.execute(
        select(Payout, Partner)
        .join(Partner, Partner.id == Payout.partner_id)
        .where(Payout.status == "approved", Payout.method == method)
        .order_by(Payout.id)
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    if method == "bank":
        writer.writerow(BANK_COLUMNS)
    included: list[int] = []
    for payout, partner in rows:
        amount = str(from_cents(payout.amount_cents))
        reference = f"CF-{payout.id}"
        if method == "paypal" and partner.payout_paypal_email:
            row = [partner.payout_paypal_email, amount, "EUR", reference, f"ContentFlow payout {reference}"]
        elif method == "bank" and partner.payout_iban and partner.payout_account_holder:
            row = [
                partner.payout_account_holder,
                partner.payout_iban,
                amount,
                "EUR",
                f"ContentFlow {reference}",
            ]
        else:
            continue
        writer.writerow([_cell(value) for value in row])
        included.append(payout.id)
    audit.record(
        "payout.export", admin=admin, target_type="payout", details={"method": method, "payout_ids": included}
    )
    return out.getvalue(), included
