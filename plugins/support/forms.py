"""The support plugin's forms: a new ticket, a reply (the owner's, an admin's)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from plugins.support.services.tickets import MAX_BODY, MAX_SUBJECT


class TicketForm(FlaskForm):
    """``email`` is required of visitors only: a signed-in partner's answers go to their own address."""

    email = EmailField(_l("Your e-mail (we send the answer there)"), validators=[Optional(), Length(max=254)])
    subject = StringField(
        _l("Subject"), validators=[DataRequired(_l("Give a subject.")), Length(max=MAX_SUBJECT)]
    )
    body = TextAreaField(
        _l("Your question"), validators=[DataRequired(_l("Write your message.")), Length(max=MAX_BODY)]
    )


class ReplyForm(FlaskForm):
    """The owner's reply in a ticket's thread."""

    body = TextAreaField(
        _l("Your reply"), validators=[DataRequired(_l("Write your message.")), Length(max=MAX_BODY)]
    )


class AdminReplyForm(ReplyForm):
    """An admin's answer; ``ask_owner`` makes it a question the ticket waits on."""

    ask_owner = BooleanField(_l("Ask the partner a question (the ticket waits for their answer)"))
