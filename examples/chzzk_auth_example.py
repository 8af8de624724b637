"""CHZZK login and token refresh, with the settings from .env.

    python examples/chzzk_auth_example.py            # log in if there is no saved token
    python examples/chzzk_auth_example.py --login    # log in again (e.g. after revoking the app)
    python examples/chzzk_auth_example.py --refresh  # force a token refresh

Needs CHZZK_CLIENT_ID / CHZZK_CLIENT_SECRET (치지직 개발자 센터) and a registered redirect URI equal
to CHZZK_REDIRECT_URI (default http://localhost:8000/auth/chzzk/callback; stop the daemon first,
it uses port 8000 too). Tokens go to CHZZK_TOKEN_PATH (mode 0600) and are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from aischoco.chat.chzzk_auth import AuthRequired, ChzzkApiError, ChzzkTokens, run_auth
from aischoco.settings.model import SettingsError, load_settings


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--login", action="store_true", help="always open the login page")
    parser.add_argument("--refresh", action="store_true", help="force a refresh")
    args = parser.parse_args()
    try:
        settings = load_settings(".env")
    except SettingsError as err:
        print(err)
        return 2
    if args.login or not settings.chzzk_token_path.exists():
        code = await run_auth(settings)
        if code != 0:
            return code
    secret = settings.chzzk_client_secret
    tokens = ChzzkTokens(base_url=settings.chzzk_openapi_url,
                         client_id=settings.chzzk_client_id or "",
                         client_secret=secret.get_secret_value() if secret else "",
                         path=settings.chzzk_token_path)
    try:
        access = await (tokens.refresh() if args.refresh else tokens.access_token())
        left = (tokens.expires_at or 0) - time.time()
        print(f"access token OK ({len(access)} chars, valid for {left / 3600:.1f} h)")
        async with httpx.AsyncClient(base_url=settings.chzzk_openapi_url, timeout=10) as client:
            me = await client.get("/open/v1/users/me",
                                  headers={"Authorization": f"Bearer {access}"})
        if me.status_code == 401:  # what the chat source does: refresh once, then retry
            await tokens.refresh()
            print("token was rejected; refreshed it, run again")
            return 1
        print("channel:", (me.json().get("content") or {}).get("channelName"))
        return 0
    except AuthRequired as err:
        print(err)
        return 1
    except ChzzkApiError as err:
        print(f"CHZZK API error ({'retry later' if err.retryable else 'not retryable'}): {err}")
        return 1
    finally:
        await tokens.aclose()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
