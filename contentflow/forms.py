"""Core forms (flask-wtf: every one carries the CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class MagicLinkForm(FlaskForm):
    email = EmailField(
        _l("Your e-mail"), validators=[DataRequired(_l("Enter your e-mail.")), Length(max=254)]
    )


class TokenForm(FlaskForm):
    token = HiddenField(validators=[DataRequired(), Length(max=128)])


class AdminLoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class LocaleForm(FlaskForm):
    locale = SelectField(
        _l("Language"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")]
    )
