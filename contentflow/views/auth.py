"""Partner sign-in by magic link: landing, request, confirmation (a GET never burns a token), sign-out."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from contentflow.errors import DomainError
from contentflow.extensions import db, limiter
from contentflow.forms import MagicLinkForm, TokenForm
from contentflow.htmx import render_page_or_partial
from contentflow.jobs import deliver_email
from contentflow.queueing import enqueue_after_commit
from contentflow.services import magic_links, partners
from contentflow.services.mail import Message

bp = Blueprint("auth", __name__)


def _email_key() -> str:
    return "email:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.get("/partners")
def landing():
    ref = request.args.get("ref", "")
    if ref.isalnum() and len(ref) <= 12:
        session["ref"] = ref
    return render_template("auth/landing.html", form=MagicLinkForm())


@bp.post("/partner/magic")
@limiter.limit(lambda: current_app.config["MAGIC_LINK_LIMIT_PER_IP"])
@limiter.limit(lambda: current_app.config["MAGIC_LINK_LIMIT_PER_EMAIL"], key_func=_email_key)
def request_link():
    form = MagicLinkForm()
    if form.validate_on_submit():
        try:
            email = partners.normalize_email(form.email.data)
        except DomainError as error:
            form.email.errors = [error.message]
        else:
            partner = partners.get_or_create_partner(
                email, locale=str(get_locale() or "fr"), referrer_id=session.pop("ref", None)
            )
            token = magic_links.issue_token(partner)
            enqueue_after_commit(
                deliver_email,
                magic_link_message(partner.email, magic_links.login_url(token)).as_dict(),
                description="deliver_email(magic_link)",
            )
            db.session.commit()
            # The same answer whether the e-mail was known or not.
            return render_page_or_partial("auth/link_sent.html", "auth/_link_sent.html", email=email)
    return render_page_or_partial("auth/landing.html", "auth/_magic_form.html", status=400, form=form)


def magic_link_message(email: str, url: str) -> Message:
    minutes = current_app.config["MAGIC_LINK_TTL_MINUTES"]
    return Message(
        to=email,
        subject=_("Your ContentFlow sign-in link"),
        text=_(
            "Hello,\n\nOpen this link to sign in to ContentFlow (valid %(minutes)d minutes, once):"
            "\n\n%(url)s\n\nIf you did not ask for it, ignore this e-mail.",
            minutes=minutes,
            url=url,
        ),
        html=render_template("auth/email_magic_link.html", url=url, minutes=minutes),
        tag="magic_link",
    )


@bp.get("/partner/login")
def confirm_login():
    token = request.args.get("token", "")
    magic_links.check_token(token)  # raises 400/410 with a clear page; burns nothing
    return render_template("auth/confirm.html", form=TokenForm(token=token))


@bp.post("/partner/login")
def login():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_template(
            "errors/error.html", status=400, message=_("This sign-in link is not valid.")
        ), 400
    partner = magic_links.redeem_token(form.token.data)
    db.session.commit()
    logout_user()
    login_user(partner)
    return redirect(url_for("partner.portal"), code=303)


@bp.post("/partner/logout")
def logout():
    if current_user.is_authenticated:
        current_user.session_epoch += 1  # every other cookie of this account stops working too
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.landing"), code=303)
