"""The operator pages' forms. The holds service validates the reason and the days; these parse."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import NumberRange, Optional


class UnholdForm(FlaskForm):
    """Lift one hold (``hold_id``) or every active hold of a partner (``partner_id``, or the seed's
    ``pid``), saying why (``reason``)."""

    hold_id = IntegerField(validators=[Optional()])
    partner_id = StringField(validators=[Optional()])
    pid = StringField(validators=[Optional()])
    reason = StringField(_l("Why"))


class ExtendForm(FlaskForm):
    days = IntegerField(_l("Days"), validators=[Optional(), NumberRange(1, 3650)])
    reason = StringField(_l("Why"))


class AuditFilterForm(FlaskForm):
    """The audit page's filters (a GET form: no CSRF)."""

    class Meta:
        csrf = False

    admin = SelectField(_l("Admin"), validators=[Optional()], validate_choice=False)
    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    partner = StringField(_l("Partner (e-mail or id)"), validators=[Optional()])
