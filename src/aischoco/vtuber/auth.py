"""Authenticating a VTube Studio connection, asking the streamer for a token when needed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .client import VtsClient
from .protocol import (
    ERR_TOKEN_ONGOING,
    ERR_USER_DENIED,
    PLUGIN_DEVELOPER,
    PLUGIN_NAME,
    VtsApiError,
    VtsError,
)
from .tokens import TokenStore

log = logging.getLogger(__name__)

ALLOW_PROMPT = "VTube Studio에서 플러그인 허용을 눌러주세요"
TOKEN_POPUP_TIMEOUT_S = 300.0  # the popup waits for a human: minutes, not seconds


class TokenDenied(VtsError):
    """The streamer pressed deny (error 50) on the plugin popup."""


class AuthRejected(VtsError):
    """A fresh token was not accepted either (should not happen; VTS state is odd)."""


PLUGIN = {"pluginName": PLUGIN_NAME, "pluginDeveloper": PLUGIN_DEVELOPER}


async def request_token(client: VtsClient, *, timeout_s: float = TOKEN_POPUP_TIMEOUT_S) -> str:
    """Show VTube Studio's allow/deny popup and wait for the answer."""
    try:
        data = await client.request("AuthenticationTokenRequest", dict(PLUGIN), timeout_s=timeout_s)
    except VtsApiError as exc:
        if exc.error_id == ERR_USER_DENIED:
            raise TokenDenied("플러그인 허용이 거부되었습니다 (VTube Studio에서 '거부')") from None
        if exc.error_id == ERR_TOKEN_ONGOING:
            raise TokenDenied("VTube Studio에 이미 허용 창이 떠 있습니다: 먼저 눌러주세요") from None
        raise
    token = data.get("authenticationToken")
    if not isinstance(token, str) or not token:
        raise VtsError("AuthenticationTokenRequest answered without a token")
    return token


async def authenticate(client: VtsClient, token: str) -> bool:
    """True when VTS accepts the token for this connection; False when rejected or revoked."""
    data = await client.request("AuthenticationRequest",
                                {**PLUGIN, "authenticationToken": token})
    if not data.get("authenticated"):
        log.info("VTS rejected the saved token: %s", str(data.get("reason", ""))[:200])
        return False
    return True


async def ensure_authenticated(client: VtsClient, store: TokenStore, *,
                               prompt: Callable[[str], None],
                               token_timeout_s: float = TOKEN_POPUP_TIMEOUT_S) -> bool:
    """Authenticate with the saved token; when there is none or it was rejected/revoked, ask for
    a new one (prompt() tells the streamer to press allow), save it and authenticate.
    Returns True when a new token was issued. Raises TokenDenied, AuthRejected, VtsError."""
    token = store.load()
    if token is not None and await authenticate(client, token):
        return False
    if token is not None:
        store.forget()
    prompt(ALLOW_PROMPT)
    token = await request_token(client, timeout_s=token_timeout_s)
    store.save(token)
    if not await authenticate(client, token):
        raise AuthRejected("VTube Studio rejected a token it just issued")
    return True
