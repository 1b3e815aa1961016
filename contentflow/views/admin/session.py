"""Admin sign-in (password, rate-limited per IP and per e-mail), sign-out, and the admin home."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from contentflow.auth import admin_required, is_admin_area
from contentflow.extensions import client_ip, db, limiter
from contentflow.htmx import redirect_to
from contentflow.security import hash_ip
from contentflow.services import admins
from contentflow.views.admin import bp


class AdminLoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


def _login_email_key() -> str:
    return "admin-email:" + (request.form.get("email") or "").strip().lower()[:254]


def safe_next(target: str | None) -> str:
    """``target`` when it is a path of the admin area (the core's or a plugin's admin blueprint): never
    an open redirect. Otherwise the admin home."""
    target = target or ""
    parts = urlsplit(target)
    home = url_for("admin.home")
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or "\\" in target
        or not target.isprintable()
    ):
        return home
    try:
        endpoint, _args = current_app.url_map.bind("localhost").match(parts.path, method="GET")
    except HTTPException:
        return home
    return target if is_admin_area(endpoint.rpartition(".")[0]) else home


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["ADMIN_LOGIN_LIMIT"], methods=["POST"])
@limiter.limit(lambda: current_app.config["ADMIN_LOGIN_LIMIT"], methods=["POST"], key_func=_login_email_key)
def login():
    form = AdminLoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("admin/login.html", form=form), status
    admin = admins.authenticate(form.email.data, form.password.data, ip_hash=hash_ip(client_ip()))
    db.session.commit()  # the failed attempt is audited too
    if admin is None:
        form.password.errors = [_("Wrong e-mail or password.")]
        return render_template("admin/login.html", form=form), 401
    logout_user()
    login_user(admin)
    return redirect_to(safe_next(request.args.get("next")))


@bp.post("/logout")
@admin_required
def logout():
    admins.sign_out(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    return redirect_to(url_for("admin.login"))


@bp.get("/")
@admin_required
def home():
    return render_template("admin/home.html", **admins.overview())
