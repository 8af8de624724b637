"""`python -m aischoco auth vts`: get (or check) the VTube Studio plugin token."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .auth import TokenDenied, ensure_authenticated
from .client import VtsClient
from .protocol import VtsError
from .tokens import TokenStore

if TYPE_CHECKING:
    from ..settings.model import Settings


async def run_auth_vts(settings: Settings) -> int:
    """0: a working token is saved; 1: VTS unreachable, denied or failed (one line says why)."""
    store = TokenStore(settings.vts_token_path)
    try:
        client = await VtsClient.open(settings.vts_url, timeout_s=settings.vts_request_timeout_s)
    except VtsError as exc:
        print(f"VTube Studio에 연결할 수 없습니다 ({settings.vts_url}): VTube Studio를 켜고 설정에서 "
              f"API를 켜세요 — cannot connect: {exc}", file=sys.stderr)
        return 1
    try:
        issued = await ensure_authenticated(
            client, store, prompt=lambda text: print(f"{text} (plugin: aischoco) …", flush=True))
    except TokenDenied as exc:
        print(f"{exc} — VTube Studio plugin access denied", file=sys.stderr)
        return 1
    except VtsError as exc:
        print(f"VTube Studio 인증 실패 — authentication failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    if issued:
        print(f"VTube Studio 토큰을 저장했습니다: {store.path}")
    else:
        print(f"이미 인증되어 있습니다 (저장된 토큰 사용: {store.path})")
    return 0
