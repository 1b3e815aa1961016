"""Admin: the postback log, every attempt with its outcome, filterable by outcome."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from contentflow.auth import admin_required
from contentflow.htmx import render_page_or_partial
from contentflow.models.postback_log import POSTBACK_OUTCOMES
from contentflow.plugin import NavItem
from contentflow.services import postbacks
from contentflow.views.admin import bp

NAV = (NavItem(_l("Postback log"), "admin.postback_log", "admin", 30),)
POSTBACK_LOG_LENGTH = 200


class PostbackLogFilter(FlaskForm):
    """The GET filter of the postback log: no CSRF, nothing changes."""

    class Meta:
        csrf = False

    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice("", _l("All")), *(SelectChoice(o, o) for o in POSTBACK_OUTCOMES)],
        validators=[Optional()],
    )


@bp.get("/postbacks")
@admin_required
def postback_log():
    form = PostbackLogFilter(formdata=request.args)
    outcome = form.outcome.data if form.validate() else ""
    return render_page_or_partial(
        "admin/postback_log.html",
        "admin/_postback_log.html",
        400 if form.errors else 200,
        form=form,
        lines=postbacks.recent_log(outcome or None, POSTBACK_LOG_LENGTH),
        limit=POSTBACK_LOG_LENGTH,
    )
