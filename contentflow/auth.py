"""Who is signed in: flask-login wiring for partners and admins, and the view guards."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, g, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from contentflow.extensions import db, login_manager
from contentflow.htmx import redirect_to
from contentflow.models import AdminUser, Partner


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)


def load_user(user_id: str) -> Partner | AdminUser | None:
    """Session id ``p:<id>:<epoch>`` / ``a:<id>:<epoch>``; a stale epoch (signed out) loads no one."""
    kind, _, rest = user_id.partition(":")
    ident, _, epoch = rest.rpartition(":")
    user: Partner | AdminUser | None = None
    if kind == "p":
        user = db.session.get(Partner, ident)
    elif kind == "a" and ident.isdigit():
        user = db.session.get(AdminUser, int(ident))
    if user is None or str(user.session_epoch) != epoch or not user.is_active:
        return None
    return user


def forget_user_for_this_request() -> None:
    """Treat the rest of this request as anonymous, without touching the session cookie: when the
    database is down the error page must not try to load the signed-in user (nor their language)."""
    g._login_user = login_manager.anonymous_user()  # where flask-login caches the request's user


#: Set on every blueprint of the admin area (the core's ``admin``, and plugins' admin blueprints).
ADMIN_AREA = "contentflow_admin_area"


def mark_admin_area(blueprint: Blueprint) -> Blueprint:
    """Make ``blueprint`` part of the admin area: its anonymous visitors are sent to the admin sign-in,
    and the admin sign-in may send them back there."""
    setattr(blueprint, ADMIN_AREA, True)
    return blueprint


def is_admin_area(blueprint_name: str | None) -> bool:
    """Whether the blueprint named ``blueprint_name`` (of the current app) belongs to the admin area."""
    blueprint = current_app.blueprints.get(blueprint_name or "")
    return bool(getattr(blueprint, ADMIN_AREA, False))


def unauthorized() -> Response:
    """Anonymous visitors go to the sign-in page of the area they asked for (htmx: ``HX-Redirect``)."""
    if is_admin_area(request.blueprint):
        return redirect_to(url_for("admin.login", next=request.path), 302)
    flash(_l("Sign in to continue: we send you a link by e-mail."), "info")
    return redirect_to(url_for("auth.landing"), 302)


def partner_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Signed-in partners only: anonymous visitors go to the landing, admins get 403."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return unauthorized()
        if not isinstance(current_user._get_current_object(), Partner):
            abort(403)
        return view(*args, **kwargs)

    return guarded


def refuse_non_admins() -> Response | None:
    """None for a signed-in admin; the admin sign-in page for anonymous visitors; 403 for partners. A
    ``before_request`` guard as it stands (plugins' admin blueprints use it that way)."""
    if not current_user.is_authenticated:
        return unauthorized()
    if not getattr(current_user, "is_admin", False):
        abort(403)
    return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Admins only: anonymous visitors get the admin sign-in page, partners 403."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return refuse_non_admins() or view(*args, **kwargs)

    return guarded
