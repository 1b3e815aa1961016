"""The admin area: password sign-in (rate-limited), home. Every action is audit-logged."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from contentflow.auth import admin_required
from contentflow.extensions import client_ip, db, limiter
from contentflow.forms import AdminLoginForm
from contentflow.htmx import redirect_to
from contentflow.security import hash_ip
from contentflow.services import admins, audit

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _login_email_key() -> str:
    return "admin-email:" + (request.form.get("email") or "").strip().lower()[:254]


def _safe_next(target: str | None) -> str:
    """Only a path inside the admin area: never an open redirect."""
    target = target or ""
    parts = urlsplit(target)
    is_admin_path = parts.path == "/admin" or parts.path.startswith("/admin/")
    if is_admin_path and not (parts.scheme or parts.netloc) and target.isprintable() and "\\" not in target:
        return target
    return url_for("admin.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["ADMIN_LOGIN_LIMIT"], methods=["POST"])
@limiter.limit(lambda: current_app.config["ADMIN_LOGIN_LIMIT"], methods=["POST"], key_func=_login_email_key)
def login():
    form = AdminLoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("admin/login.html", form=form), status
    admin = admins.authenticate(form.email.data, form.password.data)
    ip = hash_ip(client_ip())
    if admin is None:
        audit.record(
            "admin.login_failed", actor="anonymous", details={"email": form.email.data[:254]}, ip_hash=ip
        )
        db.session.commit()
        form.password.errors = [_("Wrong e-mail or password.")]
        return render_template("admin/login.html", form=form), 401
    audit.record("admin.login", admin=admin, target_type="admin", target_id=admin.id, ip_hash=ip)
    db.session.commit()
    logout_user()
    login_user(admin)
    return redirect_to(_safe_next(request.args.get("next")))


@bp.post("/logout")
@admin_required
def logout():
    audit.record("admin.logout", admin=current_user, target_type="admin", target_id=current_user.id)
    current_user.session_epoch += 1  # every other cookie of this account stops working too
    db.session.commit()
    logout_user()
    session.clear()
    return redirect_to(url_for("admin.login"))


@bp.get("/")
@admin_required
def home():
    return render_template("admin/home.html", **admins.overview())


# Admin pages of tracking and money live in their own modules, on this blueprint.
from contentflow.views import admin_money, admin_tracking  # noqa: E402, F401
