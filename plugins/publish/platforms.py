"""The four platforms as the publish plugin speaks to them: OAuth 2 endpoints and scopes, and API bases.

Everything that differs between platforms' authorization flows is data here; the publishers
(``publishers/<platform>.py``) speak their APIs. URLs come from settings (``<PLATFORM>_AUTHORIZE_URL``,
``_TOKEN_URL``, ``_API_BASE_URL``), which default to the real endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from flask import current_app

from contentflow.platforms import PLATFORMS


@dataclass(frozen=True)
class PlatformSpec:
    """What never changes for a platform: its scopes and how its authorization server wants to be asked."""

    name: str
    label: str
    scopes: tuple[str, ...]
    #: How the scopes are joined in the authorize URL.
    scope_separator: str = " "
    #: Whether the authorization server takes PKCE (S256).
    uses_pkce: bool = False
    #: How the client authenticates at the token URL.
    client_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_post"
    #: Extra query parameters of the authorize URL (a refresh token, for one).
    authorize_params: dict[str, str] = field(default_factory=dict)
    #: Where tokens can be revoked when the partner disconnects (derived from the token URL), if anywhere.
    revoke_path: tuple[str, str] | None = None


SPECS: dict[str, PlatformSpec] = {
    "youtube": PlatformSpec(
        "youtube",
        "YouTube",
        (
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube.readonly",
        ),
        uses_pkce=True,
        # offline + consent: Google returns a refresh token (and again at every reconnection).
        authorize_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
        revoke_path=("/token", "/revoke"),
    ),
    "pinterest": PlatformSpec(
        "pinterest",
        "Pinterest",
        ("boards:read", "pins:read", "pins:write", "user_accounts:read"),
        scope_separator=",",
        client_auth="client_secret_basic",
    ),
    "reddit": PlatformSpec(
        "reddit",
        "Reddit",
        ("identity", "submit", "read", "history"),
        client_auth="client_secret_basic",
        # permanent: Reddit returns a refresh token.
        authorize_params={"duration": "permanent"},
        revoke_path=("/access_token", "/revoke_token"),
    ),
    "instagram": PlatformSpec(
        "instagram",
        "Instagram",
        ("instagram_business_basic", "instagram_business_content_publish"),
        scope_separator=",",
    ),
}


@dataclass(frozen=True)
class Platform:
    """A platform as this app is configured for it."""

    spec: PlatformSpec
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_base_url: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_configured(self) -> bool:
        """A platform without a client id is shown as "not configured", never as a broken button."""
        return bool(self.client_id)

    @property
    def revoke_url(self) -> str | None:
        if self.spec.revoke_path is None:
            return None
        old, new = self.spec.revoke_path
        head, found, tail = self.token_url.rpartition(old)
        return f"{head}{new}{tail}" if found else None

    def api(self, path: str) -> str:
        """``path`` (as the platform documents it, ``/api/v1/me``) on the API base URL, whether or not
        that ends with a slash."""
        return f"{self.api_base_url.rstrip('/')}{path}"


def get_platform(name: str) -> Platform:
    """The platform ``name`` with the current app's settings. Raises KeyError for an unknown platform."""
    spec = SPECS[name]
    config = current_app.config
    prefix = name.upper()
    return Platform(
        spec=spec,
        client_id=config[f"{prefix}_CLIENT_ID"],
        client_secret=config[f"{prefix}_CLIENT_SECRET"],
        authorize_url=config[f"{prefix}_AUTHORIZE_URL"],
        token_url=config[f"{prefix}_TOKEN_URL"],
        api_base_url=config[f"{prefix}_API_BASE_URL"],
    )


def all_platforms() -> list[Platform]:
    """Every platform, in the core's order, as this app is configured for it."""
    return [get_platform(name) for name in PLATFORMS]
