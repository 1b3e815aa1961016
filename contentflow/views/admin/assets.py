"""Admin: assets: the list with each one's ingestion status (newest first), creation from a source URL
or by uploading a video (both ingested by the ``ingest_asset`` job), and quarantine (DMCA takedown).

The page includes ``admin/_assets.html`` (the form and the list), which htmx POSTs get back; the list
(``admin/_asset_list.html``) polls itself while an asset is new or ingesting, and its GET answers 286
(htmx: stop polling) once none is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from contentflow.auth import admin_required
from contentflow.errors import DomainError
from contentflow.extensions import db
from contentflow.htmx import is_partial_request, render_page_or_partial
from contentflow.plugin import NavItem
from contentflow.services import assets, media, offers
from contentflow.views.admin import bp
from contentflow.views.admin.answers import done

NAV = (NavItem(_l("Assets"), "admin.assets", "admin", 5),)
#: htmx's "stop polling" status.
STOP_POLLING = 286
UPLOAD_CHUNK_BYTES = 1024 * 1024


class AssetForm(FlaskForm):
    """A new asset: a title, at most one source (a URL to download or a file), an optional offer."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    source_url = StringField(_l("Source URL of the video"), validators=[Optional(), Length(max=2048)])
    file = FileField(_l("Or upload a video"))
    offer = SelectField(_l("Offer"), choices=[], validators=[Optional()])

    def validate(self, extra_validators=None) -> bool:
        """The field rules, and at most one source: a URL or a file (neither: a link-only asset)."""
        if not super().validate(extra_validators):
            return False
        if self.source_url.data and self.uploaded() is not None:
            self.file.errors.append(_("Give a source URL or a file, not both."))
            return False
        return True

    def uploaded(self) -> FileStorage | None:
        """The uploaded file, if one was chosen."""
        data = self.file.data
        return data if isinstance(data, FileStorage) and data.filename else None


class QuarantineForm(FlaskForm):
    """Read only: ``assets.quarantine`` validates the reason."""

    reason = StringField(_l("Why (e.g. the DMCA notice)"))


def _asset_form(*, is_blank: bool = False) -> AssetForm:
    """The asset form with the offers to choose from; blank, or filled from the POST."""
    form = AssetForm(formdata=None) if is_blank else AssetForm()
    form.offer.choices = [
        SelectChoice("", _("None")),
        *(SelectChoice(str(o.id), o.name) for o in offers.list_offers()),
    ]
    return form


def _list_context() -> dict[str, Any]:
    return {
        "assets": assets.list_assets(),
        "is_in_progress": assets.count_in_progress() > 0,
        "media_url": media.public_url,
        "quarantine_errors": {},
    }


def _assets_page(status: int = 200, **context: Any) -> Response:
    context = {**_list_context(), **context}
    context.setdefault("form", _asset_form(is_blank=True))
    context.setdefault("max_mb", current_app.config["INGEST_MAX_MB"])
    return render_page_or_partial("admin/assets.html", "admin/_assets.html", status, **context)


@bp.get("/assets", endpoint="assets")
@admin_required
def assets_page():
    """The page; for htmx (the list polling itself) the list alone, 286 once nothing is ingesting."""
    if not is_partial_request():
        return _assets_page()
    context = _list_context()
    status = 200 if context["is_in_progress"] else STOP_POLLING
    return render_page_or_partial("admin/assets.html", "admin/_asset_list.html", status, **context)


def _chunks(upload: FileStorage) -> Iterator[bytes]:
    while chunk := upload.stream.read(UPLOAD_CHUNK_BYTES):
        yield chunk


@bp.post("/assets")
@admin_required
def create_asset():
    """Create an asset from a URL or an uploaded file (ingestion enqueued on commit), or link-only."""
    form = _asset_form()
    if not form.validate_on_submit():
        return _assets_page(400, form=form)
    upload = form.uploaded()
    try:
        offer = offers.get_offer(int(form.offer.data)) if form.offer.data else None
        if upload is not None:
            asset = assets.create_uploaded_asset(
                form.title.data,
                _chunks(upload),
                upload.filename or "",
                upload.mimetype,
                offer=offer,
                admin=current_user,
            )
        else:
            url = (form.source_url.data or "").strip() or None
            asset = assets.create_asset(form.title.data, source_url=url, offer=offer, admin=current_user)
    except DomainError as error:
        db.session.rollback()
        return _assets_page(error.status, form=form, error=error.message)
    db.session.commit()
    return done("admin.assets", _("Asset %(title)s created.", title=asset.title), _assets_page)


@bp.post("/assets/<asset_id>/quarantine")
@admin_required
def quarantine_asset(asset_id: str):
    """Take the asset down with the reason given: its links answer 410 Gone from now on."""
    form = QuarantineForm()
    try:
        asset = assets.quarantine(asset_id, form.reason.data or "", current_user)
    except DomainError as error:
        db.session.rollback()
        return _assets_page(error.status, quarantine_errors={asset_id: error.message})
    db.session.commit()
    notice = _("Asset %(title)s is quarantined: its links answer 410 Gone.", title=asset.title)
    return done("admin.assets", notice, _assets_page)
