"""``GET /media/<asset_id>/<video|cover>?token=...``: an asset's stored media, for the platforms that
fetch it themselves (Instagram reads the video from a public URL; Pinterest the cover).

The URL is the credential: ``services.media.public_url`` signs it, and it expires after a day. A bad,
expired or borrowed token, an asset that is not ready (quarantined ones included) or a missing file all
answer the same 404, so nothing is revealed. Range and conditional requests are answered (video
players and platform fetchers resume).
"""

from __future__ import annotations

from flask import Blueprint, abort, request, send_file

from contentflow.extensions import csrf, limiter
from contentflow.services import media

bp = Blueprint("media", __name__)


@bp.get("/media/<asset_id>/<any(video, cover):kind>")
@limiter.exempt
@csrf.exempt
def serve(asset_id: str, kind: str):
    """Send the file named by a valid token; 404 otherwise."""
    found = media.servable_file(asset_id, kind, request.args.get("token", ""))
    if found is None:
        abort(404)
    # No shared-cache lifetime: a quarantine must stop the file being served, not wait for caches.
    return send_file(found.path, mimetype=found.mimetype, conditional=True)
