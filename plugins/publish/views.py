"""The partner's publishing pages: connected accounts (connect, settings, disconnect) and the queue of
their assignments (approve, skip), at ``/publish/...``."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from contentflow.auth import partner_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.platforms import PLATFORMS
from contentflow.services import holds
from plugins.publish import oauth
from plugins.publish.platforms import all_platforms, get_platform
from plugins.publish.services import accounts, queue
from plugins.publish.services.accounts import MAX_DAILY_CAP, MAX_INTERVAL_MINUTES

bp = Blueprint("publish", __name__, url_prefix="/publish")


class AccountSettingsForm(FlaskForm):
    """How the partner wants one account used: cap, interval, autopublish, where to post."""

    daily_cap = IntegerField(
        _l("Posts a day at most"), validators=[InputRequired(), NumberRange(0, MAX_DAILY_CAP)]
    )
    min_interval_minutes = IntegerField(
        _l("Minutes between two posts"), validators=[InputRequired(), NumberRange(0, MAX_INTERVAL_MINUTES)]
    )
    autopublish = BooleanField(_l("Publish new assignments without asking me"))
    target = StringField(_l("Where to post (subreddit, board id)"), validators=[Optional(), Length(max=120)])


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


def _platform_or_404(name: str):
    if name not in PLATFORMS:
        abort(404)
    return get_platform(name)


def _accounts_page(status: int = 200, *, errors: dict[int, str] | None = None, forms: dict | None = None):
    views = accounts.list_accounts(current_user.id)
    forms = dict(forms or {})
    for view in views:
        forms.setdefault(
            view.account.id,
            AccountSettingsForm(
                formdata=None,
                daily_cap=view.account.daily_cap,
                min_interval_minutes=view.account.min_interval_minutes,
                autopublish=view.settings.autopublish,
                target=view.settings.target or "",
            ),
        )
    return render_page_or_partial(
        "publish/accounts.html",
        "publish/_accounts.html",
        status,
        platforms=all_platforms(),
        views=views,
        forms=forms,
        errors=errors or {},
        action_form=ActionForm(formdata=None),
    )


@bp.get("/accounts")
@partner_required
def accounts_page():
    """The partner's connected accounts, with each one's settings form (page or partial)."""
    return _accounts_page()


@bp.get("/connect/<platform>")
@partner_required
def connect(platform: str):
    """Send the partner to the platform's authorize page (404 for an unknown platform)."""
    chosen = _platform_or_404(platform)
    if not chosen.is_configured:
        flash(_("%(platform)s is not configured on this server yet.", platform=chosen.label), "info")
        return redirect(url_for("publish.accounts_page"), 303)
    return redirect(oauth.start(chosen), 302)


@bp.get("/callback/<platform>")
@partner_required
def callback(platform: str):
    """The platform's answer: store the account and its token, then back to the accounts page."""
    chosen = _platform_or_404(platform)
    token = oauth.finish(chosen, request.args.to_dict())  # ConnectFailed: a 400 page saying why
    external_id, handle = oauth.identify(chosen, token["access_token"])
    accounts.connect(current_user.id, chosen.name, token, external_id, handle)
    db.session.commit()
    flash(_("%(platform)s account %(handle)s is connected.", platform=chosen.label, handle=handle), "success")
    return redirect(url_for("publish.accounts_page"), 303)


@bp.post("/accounts/<int:account_id>/settings")
@partner_required
def save_settings(account_id: int):
    """Save one of the partner's accounts' settings (400 with the form on bad input)."""
    account = accounts.get_own(current_user.id, account_id)
    form = AccountSettingsForm()
    if not form.validate_on_submit():
        return _accounts_page(400, forms={account.id: form})
    try:
        accounts.update_settings(
            account,
            daily_cap=form.daily_cap.data,
            min_interval_minutes=form.min_interval_minutes.data,
            autopublish=form.autopublish.data,
            target=form.target.data or "",
        )
    except DomainError as error:
        db.session.rollback()
        return _accounts_page(error.status, errors={account.id: error.message}, forms={account.id: form})
    db.session.commit()
    if is_partial_request():
        return _accounts_page()
    flash(_("Saved."), "success")
    return redirect_to(url_for("publish.accounts_page"))


@bp.post("/accounts/<int:account_id>/<any(pause, resume):action>")
@partner_required
def switch_account(account_id: int, action: str):
    """Pause or resume one of the partner's accounts. Idempotent."""
    account = accounts.get_own(current_user.id, account_id)
    accounts.set_enabled(account, action == "resume")
    db.session.commit()
    return _accounts_page() if is_partial_request() else redirect_to(url_for("publish.accounts_page"))


@bp.post("/accounts/<int:account_id>/disconnect")
@partner_required
def disconnect(account_id: int):
    """Disconnect one of the partner's accounts: token revoked where possible, unposted work skipped."""
    account = accounts.get_own(current_user.id, account_id)
    label, handle = get_platform(account.platform).label, account.handle
    accounts.disconnect(account)
    db.session.commit()
    if is_partial_request():
        return _accounts_page()
    flash(_("%(platform)s account %(handle)s is disconnected.", platform=label, handle=handle), "success")
    return redirect_to(url_for("publish.accounts_page"))


# --- the queue ---------------------------------------------------------------------------------------


def _queue_page(status: int = 200, error: str = ""):
    rows = queue.list_for_partner(current_user.id)
    is_moving = any(assignment.status in queue.MOVING_STATUSES for assignment, _asset in rows)
    response = render_page_or_partial(
        "publish/queue.html",
        "publish/_queue.html",
        status,
        rows=rows,
        labels=queue.STATUS_LABELS,
        counts=queue.count_by_status(current_user.id),
        is_moving=is_moving,
        on_hold=holds.is_on_hold(current_user.id),
        action_form=ActionForm(formdata=None),
        error=error,
    )
    if is_partial_request() and request.headers.get("HX-Trigger") == "publish-queue" and not is_moving:
        response.status_code = 286  # htmx stops polling: nothing is on its way any more
    return response


@bp.get("/queue")
@partner_required
def queue_page():
    """The partner's assignments, live ones first; the partial polls itself while any moves."""
    return _queue_page()


@bp.post("/queue/<int:assignment_id>/<any(approve, skip):action>")
@partner_required
def review(assignment_id: int, action: str):
    """The partner approves or skips a pending assignment (409 when it moved meanwhile)."""
    assignment = queue.get_own(current_user.id, assignment_id)
    try:
        queue.approve(assignment) if action == "approve" else queue.skip(assignment)
    except DomainError as error:
        db.session.rollback()
        return _queue_page(error.status, error.message)
    db.session.commit()
    return _queue_page() if is_partial_request() else redirect_to(url_for("publish.queue_page"))
