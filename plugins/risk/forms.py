"""The operator pages' forms. The holds service validates the reason and the days; these parse, and
refuse what the database could not store (a NUL byte) with a 400 instead of a 500."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import NumberRange, Optional, Regexp

#: Control characters no one types in a reason (PostgreSQL refuses NUL in a string).
_PRINTABLE = Regexp(
    re.compile(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"), message=_l("Remove the control characters.")
)


class UnholdForm(FlaskForm):
    """Lift one hold (``hold_id``) or every active hold of a partner (``partner_id``, or the seed's
    ``pid``), saying why (``reason``)."""

    hold_id = IntegerField(validators=[Optional()])
    partner_id = StringField(validators=[Optional(), _PRINTABLE])
    pid = StringField(validators=[Optional(), _PRINTABLE])
    reason = StringField(_l("Why"), validators=[_PRINTABLE])


class ExtendForm(FlaskForm):
    """Extend one hold by ``days``, saying why (``reason``)."""

    days = IntegerField(_l("Days"), validators=[Optional(), NumberRange(1, 3650)])
    reason = StringField(_l("Why"), validators=[_PRINTABLE])


class AuditFilterForm(FlaskForm):
    """The audit page's filters (a GET form: no CSRF)."""

    class Meta:
        """A GET form: nothing changes, so no CSRF token."""

        csrf = False

    admin = SelectField(_l("Admin"), validators=[Optional()], validate_choice=False)
    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    partner = StringField(_l("Partner (e-mail or id)"), validators=[Optional()])
