"""Forms of the admin tracking pages (flask-wtf: each POST form carries the CSRF token).

They check shape only; the services check meaning (a valid CIDR, a rate above 0, an existing click)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from contentflow.models.postback_log import POSTBACK_OUTCOMES


class NetworkForm(FlaskForm):
    name = StringField(
        _l("Name (the network= of its postbacks)"), validators=[DataRequired(), Length(max=64)]
    )
    secret = StringField(
        _l("Secret (empty: one is made for you)"), validators=[Optional(), Length(min=16, max=200)]
    )


class NetworkSettingsForm(FlaskForm):
    allowed_ips = TextAreaField(_l("Allowed IPs or networks (empty: any)"), validators=[Length(max=2000)])
    max_amount_eur = StringField(_l("Largest amount per postback (EUR)"), validators=[DataRequired()])


class OfferForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    network = SelectField(_l("Network"), choices=[], validate_choice=False, validators=[DataRequired()])
    url_template = StringField(_l("URL with {subid}"), validators=[DataRequired(), Length(max=2048)])
    cpc_eur = StringField(_l("CPC (EUR, empty: none)"), validators=[Optional(), Length(max=20)])
    revshare_pct = StringField(_l("Revenue share (%, empty: none)"), validators=[Optional(), Length(max=10)])


class FxRateForm(FlaskForm):
    currency = StringField(_l("Currency (ISO code)"), validators=[DataRequired(), Length(min=3, max=3)])
    rate = StringField(_l("EUR for one unit"), validators=[DataRequired(), Length(max=40)])


class ResolveForm(FlaskForm):
    click_id = StringField(_l("Click id"), validators=[Optional(), Length(max=16)])
    partner_id = StringField(_l("Partner id"), validators=[Optional(), Length(max=12)])
    asset_id = StringField(_l("Asset id"), validators=[Optional(), Length(max=12)])


class PostbackLogFilter(FlaskForm):
    """The GET filter of the postback log: no CSRF, nothing changes."""

    class Meta:
        csrf = False

    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice("", _l("All")), *(SelectChoice(o, o) for o in POSTBACK_OUTCOMES)],
        validators=[Optional()],
    )
