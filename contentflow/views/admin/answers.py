"""How admin pages answer a POST: shared by every module of the admin area."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from contentflow.htmx import is_partial_request, redirect_to


def done(endpoint: str, notice: str, render: Callable[..., Response]) -> Response:
    """After a successful POST: the refreshed partial for htmx, else 303 to the page (post/redirect/get)."""
    if is_partial_request():
        return render(notice=notice)
    flash(notice, "success")
    return redirect_to(url_for(endpoint))


def first_error(form: FlaskForm) -> str:
    """The form's first error message, for a one-line answer."""
    return next((error for errors in form.errors.values() for error in errors), _("Check the form."))
