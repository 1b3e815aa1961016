"""Partner sign-in by magic link: landing (``/`` leads there), request, confirmation (a GET never burns a
token), sign-out."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField
from wtforms.validators import DataRequired, Length

from contentflow.errors import ValidationError
from contentflow.extensions import db, limiter
from contentflow.htmx import redirect_to, render_page_or_partial
from contentflow.models.partner import REFERRAL_CODE_LENGTH
from contentflow.services import magic_links, mail

bp = Blueprint("auth", __name__)


class MagicLinkForm(FlaskForm):
    email = EmailField(
        _l("Your e-mail"), validators=[DataRequired(_l("Enter your e-mail.")), Length(max=254)]
    )


class TokenForm(FlaskForm):
    token = HiddenField(validators=[DataRequired(), Length(max=128)])


def _email_key() -> str:
    return "email:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.get("/")
def home():
    """The site's root is the partners' landing; a referral code comes along."""
    ref = request.args.get("ref")
    return redirect(url_for("auth.landing", ref=ref) if ref else url_for("auth.landing"))


@bp.get("/partners")
def landing():
    # A referral code (public, never a partner id), kept until the sign-up it brings; checked then.
    ref = request.args.get("ref", "").strip().lower()
    if ref.isascii() and ref.isalnum() and len(ref) <= REFERRAL_CODE_LENGTH:
        session["ref"] = ref
    return render_template("auth/landing.html", form=MagicLinkForm())


@bp.post("/partner/magic")
@limiter.limit(lambda: current_app.config["MAGIC_LINK_LIMIT_PER_IP"])
@limiter.limit(lambda: current_app.config["MAGIC_LINK_LIMIT_PER_EMAIL"], key_func=_email_key)
def request_link():
    form = MagicLinkForm()
    if form.validate_on_submit():
        try:
            partner, token = magic_links.issue_for_email(
                form.email.data, locale=str(get_locale() or "fr"), referral_code=session.get("ref")
            )
        except ValidationError as error:
            form.email.errors = [error.message]
        else:
            session.pop("ref", None)
            # In the outbox in this very transaction: a committed request always gets its e-mail.
            mail.queue_message(magic_link_message(partner.email, magic_links.login_url(token)))
            db.session.commit()
            # The same answer whether the e-mail was known or not.
            return render_page_or_partial("auth/link_sent.html", "auth/_link_sent.html", email=partner.email)
    return render_page_or_partial("auth/landing.html", "auth/_magic_form.html", status=400, form=form)


def magic_link_message(email: str, url: str) -> mail.Message:
    minutes = current_app.config["MAGIC_LINK_TTL_MINUTES"]
    return mail.Message(
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
    response = make_response(render_template("auth/confirm.html", form=TokenForm(token=token)))
    response.headers["Cache-Control"] = "no-store"  # the page holds the token: no cache may keep it
    return response


@bp.post("/partner/login")
def login():
    form = TokenForm()
    if not form.validate_on_submit():
        raise ValidationError(_("This sign-in link is not valid."), code="invalid_token")
    partner = magic_links.redeem_token(form.token.data)
    db.session.commit()
    logout_user()
    login_user(partner)
    return redirect_to(url_for("partner.portal"))


@bp.post("/partner/logout")
def logout():
    if current_user.is_authenticated:
        current_user.session_epoch += 1  # every other cookie of this account stops working too
        db.session.commit()
    logout_user()
    session.clear()
    return redirect_to(url_for("auth.landing"))
