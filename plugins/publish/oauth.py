"""OAuth 2 authorization-code flows with Authlib (state always, PKCE S256 where the platform takes it),
token refresh and revocation.

The state and the PKCE verifier wait in the partner's session (a signed cookie of their own browser)
for at most ``FLOW_TTL``; the callback checks the state in constant time before any token request.
Tokens are returned to the caller, never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app, session, url_for
from flask_babel import gettext as _

from contentflow.errors import ValidationError
from plugins.publish.platforms import Platform
from plugins.publish.publishers import publisher
from plugins.publish.publishers.base import (
    AuthError,
    PermanentError,
    PublishError,
    TransientError,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

SESSION_KEY = "publish_oauth"
#: A partner has this long to come back from the platform's consent page.
FLOW_TTL = 15 * 60
TIMEOUT = 20


class ConnectFailed(ValidationError):
    """The platform did not give us a usable token (refused, unreachable, or the flow is stale)."""

    code = "connect_failed"


def callback_url(platform: Platform) -> str:
    """Where the platform sends the partner back: built from ``PUBLIC_BASE_URL`` (registered on the
    platform's app settings as the redirect URI), never from the request's Host."""
    return current_app.config["PUBLIC_BASE_URL"] + url_for("publish.callback", platform=platform.name)


def _client(platform: Platform, **kwargs: Any) -> OAuth2Session:
    client = OAuth2Session(
        platform.client_id,
        platform.client_secret,
        token_endpoint_auth_method=platform.spec.client_auth,
        default_timeout=TIMEOUT,
        **kwargs,
    )
    if platform.name == "reddit":
        client.headers["User-Agent"] = current_app.config["REDDIT_USER_AGENT"]
    return client


def start(platform: Platform) -> str:
    """The authorize URL to send the partner to, with a fresh ``state`` (and PKCE challenge), both kept
    in the session for the callback."""
    verifier = generate_token(64) if platform.spec.uses_pkce else None
    client = _client(
        platform,
        scope=platform.spec.scope_separator.join(platform.spec.scopes),
        redirect_uri=callback_url(platform),
        code_challenge_method="S256" if verifier else None,
    )
    url, state = client.create_authorization_url(
        platform.authorize_url, code_verifier=verifier, **platform.spec.authorize_params
    )
    flows = dict(session.get(SESSION_KEY) or {})
    flows[platform.name] = {"state": state, "verifier": verifier, "at": int(time.time())}
    session[SESSION_KEY] = flows
    return url


def finish(platform: Platform, args: dict[str, str]) -> dict[str, Any]:
    """Check the callback's ``state`` against the session's and exchange its ``code`` for a token.

    Raises ConnectFailed: the partner refused, the state is wrong or stale (a forged or replayed callback),
    or the token URL did not answer with a token. The flow is used once, whatever the outcome."""
    flow = _take_flow(platform, args)
    code = args.get("code", "")
    if not code or len(code) > 2048:
        raise ConnectFailed(_("%(platform)s sent no authorization code.", platform=platform.label))
    token = _exchange_code(platform, code, flow.get("verifier"))
    module = publisher(platform.name)
    if hasattr(module, "finish_token"):
        token = _platform_step(platform, module.finish_token, token)
    if not token.get("access_token"):
        raise ConnectFailed(_("%(platform)s answered without an access token.", platform=platform.label))
    return dict(token)


def _take_flow(platform: Platform, args: dict[str, str]) -> dict[str, Any]:
    """The session's flow for ``platform``, removed from it, once the callback is shown to answer it and
    to carry no refusal. Raises ConnectFailed."""
    flows = dict(session.get(SESSION_KEY) or {})
    flow = flows.pop(platform.name, None)
    session[SESSION_KEY] = flows
    state = args.get("state", "")
    if flow is None or not state or not hmac.compare_digest(str(flow.get("state", "")), state):
        raise ConnectFailed(
            _("This sign-in with %(platform)s is not ours: start again.", platform=platform.label)
        )
    if time.time() - flow.get("at", 0) > FLOW_TTL:
        raise ConnectFailed(
            _("This sign-in with %(platform)s took too long: start again.", platform=platform.label)
        )
    if args.get("error"):
        raise ConnectFailed(
            _(
                "%(platform)s did not allow the connection: %(why)s",
                platform=platform.label,
                why=args["error"][:100],
            )
        )
    return flow


def _exchange_code(platform: Platform, code: str, verifier: str | None) -> dict[str, Any]:
    """The token the platform gives for ``code``. Raises ConnectFailed."""
    client = _client(platform, redirect_uri=callback_url(platform))
    try:
        return client.fetch_token(platform.token_url, code=code, code_verifier=verifier)
    except (OAuthError, requests.RequestException, ValueError) as error:
        log.warning(
            "oauth code exchange failed", extra={"platform": platform.name, "error": type(error).__name__}
        )
        raise ConnectFailed(
            _(
                "%(platform)s refused to give us access (%(why)s).",
                platform=platform.label,
                why=type(error).__name__,
            )
        ) from None


def identify(platform: Platform, access_token: str) -> tuple[str, str]:
    """The account's (external id, handle) from the platform. Raises ConnectFailed."""
    return _platform_step(platform, publisher(platform.name).identify, access_token)


def _platform_step(platform: Platform, step, *args: Any) -> Any:
    try:
        return step(platform, *args)
    except PublishError as error:
        raise ConnectFailed(
            _("%(platform)s did not answer as expected: %(why)s", platform=platform.label, why=error.message)
        ) from None
    except Exception as error:  # a platform answering nonsense must not become a 500
        log.warning("oauth step failed", extra={"platform": platform.name, "error": type(error).__name__})
        raise ConnectFailed(
            _(
                "%(platform)s did not answer as expected: %(why)s",
                platform=platform.label,
                why=type(error).__name__,
            )
        ) from None


def refresh(platform: Platform, access_token: str, refresh_token: str | None) -> dict[str, Any]:
    """A new token for an account whose token is about to expire.

    Raises AuthError when the platform refuses or answers without a token (the partner must reconnect)
    and TransientError when it cannot answer now (rate limited, down, an unreadable answer); nothing
    else, so a caller never leaves an assignment half-done on a platform's odd answer."""
    module = publisher(platform.name)
    if hasattr(module, "refresh"):
        try:
            token = module.refresh(platform, access_token, refresh_token)
        except PermanentError as error:  # neither a refusal nor a wait: the account cannot be used
            raise AuthError(f"the token refresh failed: {error.message}") from None
        return _refreshed(token)
    if not refresh_token:
        raise AuthError("no refresh token: connect the account again")
    client = _client(platform)
    client.register_compliance_hook("refresh_token_response", _raise_for_rate_limit)
    try:
        token = client.refresh_token(platform.token_url, refresh_token=refresh_token)
    except OAuthError as error:
        raise AuthError(f"the platform refused to refresh the token ({error.error})") from None
    except requests.Timeout:
        raise TransientError("the platform did not answer the token refresh in time") from None
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if 400 <= status < 500 and status != 429:
            raise AuthError(f"the platform refused to refresh the token (HTTP {status})") from None
        raise TransientError(f"the token refresh failed (HTTP {status})") from None
    except requests.RequestException as error:
        raise TransientError(f"the token refresh failed ({type(error).__name__})") from None
    except ValueError:  # a 2xx that is not a JSON object: a gateway's page, not the platform's answer
        raise TransientError("the platform's answer to the token refresh was not readable") from None
    return _refreshed(token)


def _raise_for_rate_limit(response: requests.Response) -> requests.Response:
    """A 429 is a wait, whatever its body says (Reddit's carries an ``error`` that Authlib would take for
    a refusal). Raises TransientError."""
    if response.status_code == 429:
        raise TransientError(
            "rate limited by the platform's token endpoint", retry_after=retry_after_seconds(response)
        )
    return response


def _refreshed(token: Any) -> dict[str, Any]:
    """The refreshed token, which must hold an access token. Raises AuthError."""
    access_token = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access_token, str) or not access_token:
        raise AuthError("the platform answered the token refresh without an access token")
    return dict(token)


def revoke(platform: Platform, token: str | None) -> bool:
    """Revoke ``token`` where the platform allows it (Reddit, Google). Best effort: returns whether the
    platform confirmed; a failure is logged, never raised (the account is removed here anyway)."""
    url = platform.revoke_url
    if not url or not token:
        return False
    headers = {"User-Agent": current_app.config["REDDIT_USER_AGENT"]} if platform.name == "reddit" else {}
    try:
        response = requests.post(
            url,
            data={"token": token, "token_type_hint": "refresh_token"},
            auth=(platform.client_id, platform.client_secret)
            if platform.spec.client_auth == "client_secret_basic"
            else None,
            headers=headers,
            timeout=TIMEOUT,
        )
    except requests.RequestException as error:
        log.warning(
            "token revocation failed", extra={"platform": platform.name, "error": type(error).__name__}
        )
        return False
    return response.status_code < 300
