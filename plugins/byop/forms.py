"""The BYOP submission form (flask-wtf: CSRF included)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from plugins.byop.services import MAX_HASHTAGS_LENGTH, hashtags_of, is_web_url


class SubmissionForm(FlaskForm):
    source_url = StringField(_l("Video URL (optional)"), validators=[Optional(), Length(max=2048)])
    title = StringField(
        _l("Title"), validators=[DataRequired(_l("Give your post a title.")), Length(max=200)]
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    hashtags = StringField(_l("Hashtags"), validators=[Optional(), Length(max=MAX_HASHTAGS_LENGTH)])
    cta = StringField(_l("Call to action"), validators=[Optional(), Length(max=200)])
    offer = SelectField(_l("Offer"), choices=[], validate_choice=False, validators=[Optional()])

    def validate_offer(self, field) -> None:
        # Only an active offer's id (the choices): never a free value reaching the database.
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_l("Choose one of the active offers."))

    def validate_source_url(self, field) -> None:
        if field.data and not is_web_url(field.data.strip()):
            raise ValidationError(_l("Give an http:// or https:// address, or leave it empty."))

    def validate_hashtags(self, field) -> None:
        if len(" ".join(hashtags_of(field.data or ""))) > MAX_HASHTAGS_LENGTH:
            raise ValidationError(_l("The hashtags take 300 characters at most."))
