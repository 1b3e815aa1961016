"""Share kit pages: the seeds' BYOP URLs (``/byop/kit?id=``, ``POST /byop/log``, ``POST /byop/email``, absent
when BYOP is off) and the same kit for any asset a partner has a link for (``/share/<asset id>``), the
share log, e-mail shares and the one-click unsubscribe of their recipients."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import Length

from contentflow.auth import partner_required
from contentflow.errors import DomainError
from contentflow.extension_points import SUBMISSION_ASSET
from contentflow.extensions import client_ip, csrf, db
from contentflow.htmx import is_partial_request, redirect_to, render_page_or_partial
from contentflow.security import hash_ip
from plugins.sharekit import services
from plugins.sharekit.models import CHANNELS

bp = Blueprint("sharekit", __name__, url_prefix="/byop")
share_bp = Blueprint("sharekit_share", __name__, url_prefix="/share")

EMAIL_PARTIAL = "sharekit/_email.html"
CONSENT_TEXT = _l("Every recipient agreed to receive this e-mail from me.")


class EmailShareForm(FlaskForm):
    emails = TextAreaField(
        _l("E-mail addresses (commas, semicolons or one per line)"), validators=[Length(max=5000)]
    )
    consent = BooleanField(CONSENT_TEXT)
    asset = HiddenField()
    submission = HiddenField()


@bp.before_request
def only_with_byop():
    """The ``/byop/...`` URLs are BYOP's: absent (404) when no plugin answers for submissions."""
    if not SUBMISSION_ASSET.is_answered():
        abort(404)


def _kit(asset_id: str | None, submission_id: str | None) -> services.Kit:
    """The kit the request names: a BYOP submission's (``submission``), else an asset's. Raises NotFound."""
    if submission_id:
        asset_id = services.asset_of_submission(current_user.id, submission_id)
        return services.kit_for(current_user.id, asset_id, submission_id=submission_id)
    return services.kit_for(current_user.id, asset_id or "")


def _kit_page(
    kit: services.Kit,
    status: int = 200,
    *,
    form: EmailShareForm | None = None,
    notice: str = "",
    partial: str = "sharekit/_kit.html",
):
    form = form or EmailShareForm(formdata=None, asset=kit.asset.id, submission=kit.submission_id or "")
    return render_page_or_partial(
        "sharekit/kit.html",
        partial,
        status,
        kit=kit,
        form=form,
        notice=notice,
        shares=services.recent_shares(current_user.id),
        email_enabled=current_app.config["SHARE_EMAIL_ENABLED"],
        remaining=services.remaining_today(current_user.id),
    )


@bp.get("/kit")
@partner_required
def kit():
    found = _kit(None, request.args.get("id", ""))
    db.session.commit()  # a submission's first kit makes the partner's short link: keep it
    return _kit_page(found)


@share_bp.get("/<asset_id>")
@partner_required
def asset_kit(asset_id: str):
    return _kit_page(_kit(asset_id, None))


# --- the share log -----------------------------------------------------------------------------------


def _log_partial(status: int = 200):
    response = make_response(
        render_template("sharekit/_log.html", shares=services.recent_shares(current_user.id)), status
    )
    response.vary.add("HX-Request")
    return response


def _log_share():
    # The seed's ``/byop/log?ch=<channel>`` (from the kit ``?id=<submission>``) still works, as a POST.
    channel = request.form.get("channel") or request.form.get("ch") or request.args.get("ch") or ""
    if channel not in CHANNELS or channel == "email":
        abort(400)
    kit = _kit(request.form.get("asset"), request.form.get("submission") or request.args.get("id"))
    services.log_share(current_user.id, kit.asset.id, channel, ip_hash=hash_ip(client_ip()))
    db.session.commit()
    if is_partial_request():
        response = _log_partial()
        response.headers["HX-Trigger"] = "sharekit:shared"
        return response
    if channel in services.INTENT_CHANNELS:
        # Without JavaScript: the partner's browser goes on to the platform's own share page (built
        # here from the asset, never from the request). Nothing is sent on the partner's behalf.
        return redirect(kit.intents[channel], 303)
    flash(_("Copied."), "success")
    return redirect_to(_back(kit))


def _back(kit: services.Kit) -> str:
    if kit.submission_id:
        return url_for("sharekit.kit", id=kit.submission_id)
    return url_for("sharekit_share.asset_kit", asset_id=kit.asset.id)


@bp.post("/log")
@partner_required
def log_byop_share():
    return _log_share()


@share_bp.post("/log")
@partner_required
def log_share():
    return _log_share()


@share_bp.get("/log")
@partner_required
def share_log():
    return render_page_or_partial(
        "sharekit/log.html", "sharekit/_log.html", shares=services.recent_shares(current_user.id)
    )


# --- e-mail shares -----------------------------------------------------------------------------------


def _email_share():
    if not current_app.config["SHARE_EMAIL_ENABLED"]:
        abort(404)
    form = EmailShareForm()
    kit = _kit(form.asset.data, form.submission.data)
    if not form.validate_on_submit():
        return _kit_page(kit, 400, form=form, partial=EMAIL_PARTIAL)
    try:
        result = services.share_by_email(
            current_user._get_current_object(),
            kit.asset.id,
            form.emails.data or "",
            has_consent=bool(form.consent.data),
            consent_text=str(CONSENT_TEXT),
            ip_hash=hash_ip(client_ip()),
        )
    except DomainError as error:
        db.session.rollback()
        form.emails.errors = [error.message]
        return _kit_page(kit, error.status, form=form, partial=EMAIL_PARTIAL)
    db.session.commit()
    notice = _("%(n)d e-mail(s) on their way.", n=result.sent)
    if result.unsubscribed:
        notice += " " + _(
            "%(n)d address(es) asked never to receive these e-mails: skipped.", n=result.unsubscribed
        )
    if is_partial_request():
        response = _kit_page(kit, notice=notice, partial=EMAIL_PARTIAL)
        response.headers["HX-Trigger"] = "sharekit:shared"
        return response
    flash(notice, "success")
    return redirect_to(_back(kit))


@bp.post("/email")
@partner_required
def email_byop_share():
    return _email_share()


@share_bp.post("/email")
@partner_required
def email_share():
    return _email_share()


# --- unsubscribe (recipients, not partners) -----------------------------------------------------------


@share_bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
# One-click unsubscribe (RFC 8058): mail clients POST without a form; the signed token is the proof.
@csrf.exempt
def unsubscribe(token: str):
    address = services.address_of_token(token)  # NotFound: a link we did not make
    if request.method == "POST":
        services.unsubscribe(token)
        db.session.commit()
        return render_template("sharekit/unsubscribed.html", address=address)
    return render_template("sharekit/unsubscribe.html", address=address, token=token)


def render_portal_card(partner, **context) -> str:
    """The ``portal.cards`` slot: the partner's assets to share, each with its kit."""
    return render_template(
        "sharekit/_portal_card.html", assets=services.shareable_assets(partner.id, limit=10)
    )
