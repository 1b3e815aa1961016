"""BYOP pages (``/byop/new``, ``/byop/submit``, ``/byop/submissions``) and the "publish on my accounts" API
(``POST /api/byop/publish``, seed 000: JSON in, JSON out; the kit's HTMX button gets a partial; a plain
form POST goes back to the kit)."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from contentflow.auth import partner_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_htmx_request, is_partial_request, redirect_to, render_page_or_partial
from contentflow.models import Partner
from contentflow.plugin import has_endpoint
from contentflow.views.edge import reads_json
from contentflow.views.errors import error_response
from plugins.byop import services
from plugins.byop.forms import SubmissionForm

bp = Blueprint("byop", __name__, url_prefix="/byop")
api = Blueprint("byop_api", __name__, url_prefix="/api/byop")

IN_PROGRESS = ("new", "processing")


def _form(*, formdata=True) -> SubmissionForm:
    form = SubmissionForm() if formdata else SubmissionForm(formdata=None)
    offers = services.active_offers()
    form.offer.choices = [(str(offer.id), offer.name) for offer in offers]
    if not form.offer.data and offers:
        form.offer.data = str(offers[0].id)
    return form


def _new_page(form: SubmissionForm, status: int = 200, error: str = ""):
    return render_page_or_partial(
        "byop/new.html", "byop/_form.html", status, form=form, error=error, has_offer=bool(form.offer.choices)
    )


@bp.get("/new")
@partner_required
def new():
    return _new_page(_form(formdata=False))


@bp.post("/submit")
@partner_required
def submit():
    form = _form()
    if not form.validate_on_submit():
        return _new_page(form, 400)
    try:
        submission = services.create_submission(
            current_user.id,
            title=form.title.data,
            source_url=form.source_url.data or "",
            description=form.description.data or "",
            hashtags=form.hashtags.data or "",
            cta=form.cta.data or "",
            offer_id=int(form.offer.data) if form.offer.data else None,
        )
    except DomainError as error:
        db.session.rollback()
        return _new_page(form, error.status, error.message)
    db.session.commit()
    if has_endpoint("sharekit.kit"):
        return redirect_to(url_for("sharekit.kit", id=submission.id))
    flash(_("Your post is saved."), "success")
    return redirect_to(url_for("byop.submissions"))


@bp.get("/submissions")
@partner_required
def submissions():
    rows = services.list_for_partner(current_user.id)
    is_moving = any(asset.status in IN_PROGRESS for _submission, asset in rows)
    response = render_page_or_partial(
        "byop/submissions.html",
        "byop/_submissions.html",
        rows=rows,
        is_moving=is_moving,
        has_kit=has_endpoint("sharekit.kit"),
    )
    if is_partial_request() and request.headers.get("HX-Trigger") == "byop-submissions" and not is_moving:
        response.status_code = 286  # htmx stops polling: every asset is ready or failed
    return response


# --- publish on my accounts: the seed's JSON API, the kit's button --------------------------------


def _json_error(code: str, status: int):
    return jsonify(ok=False, error=code), status


@api.errorhandler(CSRFError)
def csrf_refused(error: CSRFError):
    """The seed's JSON callers get a JSON error for a missing or stale ``X-CSRFToken`` too (the check
    itself is the app's, before the view); the kit's form gets the usual error page or alert."""
    if request.is_json:
        return _json_error("csrf", 400)
    message = _("Your form expired or was not sent from this site. Reload the page and try again.")
    return error_response(400, "csrf", message)


def _requested() -> tuple[str, list[str] | None] | None:
    """(submission id, requested platforms) from a JSON body, or from the kit's form; None when the
    body is not what the API takes. JSON without platforms asks for every allowed one (seed 000); the
    kit's form asks for the boxes ticked, so none ticked is none (``no_platforms``), never all."""
    if request.is_json:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return None
        platforms = payload.get("platforms")
        if platforms is not None and not (
            isinstance(platforms, list) and all(isinstance(p, str) for p in platforms)
        ):
            return None
        return str(payload.get("submissionId") or ""), platforms or None  # seed 000: none means all
    return request.form.get("submissionId", ""), request.form.getlist("platforms")


@api.post("/publish")
@reads_json
def publish():
    if not services.can_publish():
        return _json_error("feature_disabled", 400)
    if not current_user.is_authenticated or not isinstance(current_user._get_current_object(), Partner):
        return _json_error("unauthorized", 401)
    asked = _requested()
    if asked is None:
        return _json_error("bad_request", 400)
    submission_id, platforms = asked
    try:
        result = services.publish_on_accounts(current_user.id, submission_id, platforms)
    except DomainError as error:
        db.session.rollback()
        if is_htmx_request():
            return render_template("byop/_publish_result.html", error=error.message), error.status
        if not request.is_json:  # the kit's form without JavaScript
            return error_response(error.status, error.code, error.message)
        return _json_error(error.code, error.status)
    db.session.commit()
    if is_htmx_request():
        return render_template("byop/_publish_result.html", result=result)
    if not request.is_json:  # the kit's form without JavaScript: back to the kit, with what happened
        flash(_("%(n)d post(s) scheduled on your accounts.", n=len(result.created)), "success")
        back = "sharekit.kit" if has_endpoint("sharekit.kit") else "byop.submissions"
        return redirect_to(url_for(back, id=result.submission_id))
    return jsonify(
        ok=True,
        created=result.created,
        skipped=result.skipped,
        submissionId=result.submission_id,
        assetId=result.asset_id,
    )


def render_publish_button(partner, asset, submission_id=None, **context) -> str:
    """The ``kit.actions`` slot: the "publish on my accounts" button of a BYOP submission's kit, when the
    sub-flag is on and a plugin publishes (absent otherwise)."""
    if submission_id is None or not services.can_publish():
        return ""
    return render_template(
        "byop/_publish_button.html",
        submission_id=submission_id,
        platforms=services.platforms_to_publish(None),
    )
