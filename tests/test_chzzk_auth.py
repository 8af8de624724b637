"""CHZZK OAuth: token file, refresh provider, and the `auth chzzk` command, against a real local
CHZZK Open API peer (tests/peers/chzzk_openapi.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import SETTING_KEYS
from daemon import free_port
from peers.chzzk_openapi import ChzzkOpenApiServer

from aischoco.chat.chzzk_auth import (
    AUTH_COMMAND,
    AuthRequired,
    ChzzkApiError,
    ChzzkTokens,
    TokenFileError,
    TokenSet,
    load_tokens,
    run_auth,
    save_tokens,
)
from aischoco.settings.model import Settings

CLIENT_ID = "cid-1234567"
CLIENT_SECRET = "csecret-abcdefg"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> Iterator[ChzzkOpenApiServer]:
    with ChzzkOpenApiServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock) as srv:
        yield srv


def provider(api: ChzzkOpenApiServer, path: Path, clock: FakeClock, **kw: object) -> ChzzkTokens:
    return ChzzkTokens(base_url=api.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                       path=path, clock=clock, **kw)  # type: ignore[arg-type]


def saved_pair(api: ChzzkOpenApiServer, path: Path, expires_at: float) -> TokenSet:
    pair = api.issue()
    tokens = TokenSet(pair.access_token, pair.refresh_token, "Bearer", expires_at)
    save_tokens(path, tokens)
    return tokens


# --- token storage -------------------------------------------------------------------------------
def test_save_and_load_round_trip_with_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "config" / "chzzk_token.json"
    tokens = TokenSet("access-xyz", "refresh-xyz", "Bearer", 1234.5)
    save_tokens(path, tokens)
    assert load_tokens(path) == tokens
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc == {"access_token": "access-xyz", "refresh_token": "refresh-xyz",
                   "token_type": "Bearer", "expires_at": 1234.5}
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["chzzk_token.json"]  # no temp left


def test_save_tightens_an_existing_world_readable_file(tmp_path: Path) -> None:
    if os.name == "nt":
        pytest.skip("POSIX modes only")
    path = tmp_path / "t.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)
    save_tokens(path, TokenSet("a", "r", "Bearer", 1.0))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_file_is_none_and_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "chzzk_token.json"
    assert load_tokens(path) is None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenFileError) as err:
        load_tokens(path)
    assert isinstance(err.value, AuthRequired) and AUTH_COMMAND in str(err.value)
    assert "moved aside" in str(err.value)
    assert not path.exists()
    assert len(list(tmp_path.glob("chzzk_token.json.corrupt-*"))) == 1


def test_repr_masks_tokens() -> None:
    tokens = TokenSet("secret-access-token", "secret-refresh-token", "Bearer", 1.0)
    for text in (repr(tokens), str(tokens), f"{tokens}", repr([tokens])):
        assert "secret-access-token" not in text and "secret-refresh-token" not in text


# --- the provider ----------------------------------------------------------------------------------
async def test_no_tokens_means_auth_required(api: ChzzkOpenApiServer, tmp_path: Path,
                                             clock: FakeClock) -> None:
    tokens = provider(api, tmp_path / "t.json", clock)
    with pytest.raises(AuthRequired) as err:
        await tokens.access_token()
    message = str(err.value)
    assert len(message.splitlines()) == 1
    assert AUTH_COMMAND in message and "치지직" in message and "CHZZK login required" in message
    await tokens.aclose()


async def test_valid_token_is_used_without_a_request(api: ChzzkOpenApiServer, tmp_path: Path,
                                                     clock: FakeClock) -> None:
    saved = saved_pair(api, tmp_path / "t.json", clock.now + 3600)
    tokens = provider(api, tmp_path / "t.json", clock)
    assert await tokens.access_token() == saved.access_token
    assert api.count() == 0
    await tokens.aclose()


async def test_refreshes_before_expiry_and_saves_the_new_pair(
        api: ChzzkOpenApiServer, tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "t.json"
    saved = saved_pair(api, path, clock.now + 3600)
    tokens = provider(api, path, clock, refresh_margin_s=300)
    assert await tokens.access_token() == saved.access_token
    clock.now += 3600 - 299  # inside the margin: refresh now, before it expires
    new_access = await tokens.access_token()
    assert new_access != saved.access_token
    assert api.count("refresh_token") == 1
    request = api.requests[-1].body
    assert request == {"grantType": "refresh_token", "refreshToken": saved.refresh_token,
                       "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}
    on_disk = load_tokens(path)
    assert on_disk is not None and on_disk.access_token == new_access
    assert on_disk.refresh_token == api.issued[-1].refresh_token
    assert on_disk.expires_at == pytest.approx(clock.now + 86400)  # expiresIn "86400" (a string)
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await tokens.access_token() == new_access  # no second refresh
    assert api.count("refresh_token") == 1
    await tokens.aclose()


async def test_expires_in_as_int(tmp_path: Path, clock: FakeClock) -> None:
    with ChzzkOpenApiServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock,
                            expires_in=7200) as srv:
        saved_pair(srv, tmp_path / "t.json", clock.now)
        tokens = provider(srv, tmp_path / "t.json", clock)
        await tokens.access_token()
        assert tokens.expires_at == pytest.approx(clock.now + 7200)
        await tokens.aclose()


async def test_new_pair_is_on_disk_before_it_is_used(api: ChzzkOpenApiServer, tmp_path: Path,
                                                     clock: FakeClock) -> None:
    path = tmp_path / "t.json"
    saved_pair(api, path, clock.now + 10)  # expiring
    seen_on_disk: list[str | None] = []

    def observe(_recorded: object) -> None:  # runs in the server thread as each request arrives
        doc = load_tokens(path)
        seen_on_disk.append(doc.refresh_token if doc else None)

    api.on_request = observe
    tokens = provider(api, path, clock)
    access = await tokens.access_token()  # refresh #1
    async with httpx.AsyncClient(base_url=api.base_url) as client:  # the first use of the token
        me = await client.get("/open/v1/users/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200
    first_new = api.issued[-1].refresh_token
    assert seen_on_disk[-1] == first_new  # saved before it was used
    await tokens.refresh()  # refresh #2: the peer sees the spent one replaced on disk already
    assert seen_on_disk[-1] == first_new
    assert load_tokens(path).refresh_token == api.issued[-1].refresh_token  # type: ignore[union-attr]
    await tokens.aclose()


async def test_reused_refresh_token_is_auth_required(api: ChzzkOpenApiServer, tmp_path: Path,
                                                     clock: FakeClock) -> None:
    path = tmp_path / "t.json"
    saved = saved_pair(api, path, clock.now + 10)
    tokens = provider(api, path, clock)
    await tokens.access_token()  # spends saved.refresh_token
    save_tokens(path, saved)  # e.g. an old backup restored: the spent token again
    stale = provider(api, path, clock)
    with pytest.raises(AuthRequired) as err:
        await stale.access_token()
    assert AUTH_COMMAND in str(err.value) and "401" in str(err.value)
    assert api.requests[-1].body["refreshToken"] == saved.refresh_token
    await tokens.aclose()
    await stale.aclose()


async def test_revoked_app_is_auth_required_after_a_401(api: ChzzkOpenApiServer, tmp_path: Path,
                                                        clock: FakeClock) -> None:
    saved_pair(api, tmp_path / "t.json", clock.now + 3600)
    tokens = provider(api, tmp_path / "t.json", clock)
    await tokens.access_token()
    api.revoke_all()
    with pytest.raises(AuthRequired):
        await tokens.refresh()  # what the chat source does after a 401
    await tokens.aclose()


async def test_concurrent_callers_refresh_once(api: ChzzkOpenApiServer, tmp_path: Path,
                                               clock: FakeClock) -> None:
    saved_pair(api, tmp_path / "t.json", clock.now + 5)
    api.delay_s = 0.2  # keep the refresh in flight while the others arrive
    tokens = provider(api, tmp_path / "t.json", clock)
    results = await asyncio.gather(*(tokens.access_token() for _ in range(8)))
    assert len(set(results)) == 1 and results[0] == api.issued[-1].access_token
    assert api.count("refresh_token") == 1
    # the same for forced refreshes after a 401 seen by several callers at once
    results = await asyncio.gather(*(tokens.refresh() for _ in range(5)))
    assert len(set(results)) == 1
    assert api.count("refresh_token") == 2
    await tokens.aclose()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_are_retryable_not_auth_required(
        api: ChzzkOpenApiServer, tmp_path: Path, clock: FakeClock, status: int) -> None:
    path = tmp_path / "t.json"
    saved = saved_pair(api, path, clock.now + 5)
    api.fail_next(status)
    tokens = provider(api, path, clock)
    with pytest.raises(ChzzkApiError) as err:
        await tokens.access_token()
    assert not isinstance(err.value, AuthRequired)
    assert err.value.retryable and err.value.status == status
    assert load_tokens(path) == saved  # nothing spent, nothing lost
    assert await tokens.access_token() == api.issued[-1].access_token  # the retry works
    await tokens.aclose()


async def test_timeout_and_unreachable_are_retryable(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "t.json"
    save_tokens(path, TokenSet("a" * 20, "r" * 20, "Bearer", clock.now))
    tokens = ChzzkTokens(base_url=f"http://127.0.0.1:{free_port()}", client_id=CLIENT_ID,
                         client_secret=CLIENT_SECRET, path=path, clock=clock)
    with pytest.raises(ChzzkApiError) as err:
        await tokens.access_token()
    assert err.value.retryable and not isinstance(err.value, AuthRequired)
    await tokens.aclose()


async def test_tokens_never_logged(api: ChzzkOpenApiServer, tmp_path: Path, clock: FakeClock,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "t.json"
    saved = saved_pair(api, path, clock.now + 5)
    tokens = provider(api, path, clock)
    await tokens.access_token()
    api.fail_next(503)
    with pytest.raises(ChzzkApiError) as api_err:
        await tokens.refresh()
    api.revoke_all()
    with pytest.raises(AuthRequired) as auth_err:
        await tokens.refresh()
    logging.getLogger("test").info("provider: %r", tokens)
    text = caplog.text + str(api_err.value) + str(auth_err.value) + repr(tokens)
    assert caplog.records  # something was logged
    for pair in api.issued:
        assert pair.access_token not in text and pair.refresh_token not in text
    assert saved.refresh_token not in text and CLIENT_SECRET not in text


# --- `auth chzzk` ----------------------------------------------------------------------------------
def auth_settings(api: ChzzkOpenApiServer, tmp_path: Path, port: int, **kw: object) -> Settings:
    values: dict[str, object] = {
        "chzzk_client_id": CLIENT_ID, "chzzk_client_secret": CLIENT_SECRET,
        "chzzk_redirect_uri": f"http://127.0.0.1:{port}/auth/chzzk/callback",
        "chzzk_openapi_url": api.base_url,
        "chzzk_token_path": tmp_path / "config" / "chzzk_token.json"}
    values.update(kw)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_auth(settings: Settings, timeout_s: float = 20) -> tuple[asyncio.Task[int], str]:
    urls: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(run_auth(settings, open_browser=False, timeout_s=timeout_s,
                                        authorize_base="http://authorize.invalid/account-interlock",
                                        on_authorize_url=urls.put_nowait))
    url = await asyncio.wait_for(urls.get(), timeout=10)
    return task, url


async def test_full_login_flow(api: ChzzkOpenApiServer, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    settings = auth_settings(api, tmp_path, port)
    api.expect_code("code-from-chzzk")
    task, url = await start_auth(settings)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://authorize.invalid/account-interlock?")
    assert query["clientId"] == [CLIENT_ID]
    assert query["redirectUri"] == [settings.chzzk_redirect_uri]
    state = query["state"][0]
    assert len(state) >= 16
    async with httpx.AsyncClient() as client:
        page = await client.get(settings.chzzk_redirect_uri,
                                params={"code": "code-from-chzzk", "state": state})
    assert page.status_code == 200 and "로그인 완료" in page.text
    assert await asyncio.wait_for(task, 10) == 0
    exchange = api.requests[-1].body
    assert exchange == {"grantType": "authorization_code", "clientId": CLIENT_ID,
                        "clientSecret": CLIENT_SECRET, "code": "code-from-chzzk", "state": state}
    path = tmp_path / "config" / "chzzk_token.json"
    saved = load_tokens(path)
    assert saved is not None and saved.refresh_token == api.issued[-1].refresh_token
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert url in out.out and "로그인 완료" in out.out
    assert saved.access_token not in out.out + out.err
    assert saved.refresh_token not in out.out + out.err
    # the provider picks the saved tokens up
    tokens = ChzzkTokens(base_url=api.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         path=path)
    assert await tokens.access_token() == saved.access_token
    await tokens.aclose()


async def test_state_mismatch_is_rejected_and_login_still_completes(
        api: ChzzkOpenApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = auth_settings(api, tmp_path, free_port())
    api.expect_code("good-code")
    task, url = await start_auth(settings)
    state = parse_qs(urlsplit(url).query)["state"][0]
    async with httpx.AsyncClient() as client:
        bad = await client.get(settings.chzzk_redirect_uri,
                               params={"code": "good-code", "state": "forged"})
        assert bad.status_code == 400
        assert api.count() == 0  # the code was never sent with a wrong state
        assert not task.done()
        missing = await client.get(settings.chzzk_redirect_uri, params={"code": "good-code"})
        assert missing.status_code == 400
        other = await client.get(settings.chzzk_redirect_uri.replace("callback", "x"))
        assert other.status_code == 404
        good = await client.get(settings.chzzk_redirect_uri,
                                params={"code": "good-code", "state": state})
        assert good.status_code == 200
    assert await asyncio.wait_for(task, 10) == 0
    assert "state" in capsys.readouterr().err


async def test_error_redirect_fails_clearly(api: ChzzkOpenApiServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    settings = auth_settings(api, tmp_path, free_port())
    task, url = await start_auth(settings)
    state = parse_qs(urlsplit(url).query)["state"][0]
    async with httpx.AsyncClient() as client:
        page = await client.get(settings.chzzk_redirect_uri,
                                params={"error": "access_denied", "state": state})
    assert page.status_code == 400
    assert await asyncio.wait_for(task, 10) == 1
    assert "access_denied" in capsys.readouterr().err
    assert not (tmp_path / "config" / "chzzk_token.json").exists()


async def test_rejected_code_fails_clearly(api: ChzzkOpenApiServer, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    settings = auth_settings(api, tmp_path, free_port())
    task, url = await start_auth(settings)
    state = parse_qs(urlsplit(url).query)["state"][0]
    async with httpx.AsyncClient() as client:
        page = await client.get(settings.chzzk_redirect_uri,
                                params={"code": "unknown", "state": state})
    assert page.status_code == 502 and "로그인 실패" in page.text
    assert await asyncio.wait_for(task, 10) == 1
    assert "token exchange failed" in capsys.readouterr().err


async def test_timeout(api: ChzzkOpenApiServer, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = auth_settings(api, tmp_path, free_port())
    task, _ = await start_auth(settings, timeout_s=0.3)
    assert await asyncio.wait_for(task, 10) == 1
    assert "timed out" in capsys.readouterr().err


async def test_busy_port_says_stop_the_daemon(api: ChzzkOpenApiServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code = await run_auth(auth_settings(api, tmp_path, port), open_browser=False, timeout_s=1)
    assert code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "데몬" in err and "CHZZK_REDIRECT_URI" in err and str(port) in err


async def test_missing_credentials_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert await run_auth(settings, open_browser=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CHZZK_CLIENT_ID" in err[0]


def test_cli_without_client_id_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_KEYS}
    result = subprocess.run([sys.executable, "-m", "aischoco", "auth", "chzzk"], cwd=tmp_path,
                            env=env, check=False, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CHZZK_CLIENT_ID" in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


async def test_a_login_while_waiting_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    from aischoco.chat.chzzk_auth import AuthRequired, ChzzkTokens, TokenSet, save_tokens

    path = tmp_path / "chzzk_token.json"
    tokens = ChzzkTokens(base_url="http://127.0.0.1:9", client_id="c", client_secret="s", path=path)
    with pytest.raises(AuthRequired):
        await tokens.access_token()
    save_tokens(path, TokenSet("new-access", "new-refresh", "Bearer", time.time() + 86400))
    assert await tokens.access_token() == "new-access"
    await tokens.aclose()


async def test_localhost_redirect_is_served_on_every_address_it_names(
        api: ChzzkOpenApiServer, tmp_path: Path) -> None:
    # "localhost" may be 127.0.0.1 and ::1: the browser may try either, so both must answer.
    import socket

    port = free_port()
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", port,
                                                           type=socket.SOCK_STREAM)}
    settings = auth_settings(api, tmp_path, port,
                             chzzk_redirect_uri=f"http://localhost:{port}/auth/chzzk/callback")
    task, _ = await start_auth(settings)
    async with httpx.AsyncClient() as client:
        for address in addresses:
            host = f"[{address}]" if ":" in address else address
            page = await client.get(f"http://{host}:{port}/auth/chzzk/callback",
                                    params={"code": "c", "state": "forged"})
            assert page.status_code == 400 and "state" in page.text, address
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_other_requests_get_a_page_and_a_finished_login_says_so(
        api: ChzzkOpenApiServer, tmp_path: Path) -> None:
    settings = auth_settings(api, tmp_path, free_port())
    api.expect_code("the-code")
    task, url = await start_auth(settings)
    state = parse_qs(urlsplit(url).query)["state"][0]
    async with httpx.AsyncClient() as client:
        missing = await client.get(settings.chzzk_redirect_uri.replace("callback", "favicon.ico"))
        assert missing.status_code == 404 and missing.text.startswith("<!doctype html>")
        posted = await client.post(settings.chzzk_redirect_uri)
        assert posted.status_code == 405 and "GET only" in posted.text
        good = await client.get(settings.chzzk_redirect_uri,
                                params={"code": "the-code", "state": state})
        assert good.status_code == 200 and good.headers["cache-control"] == "no-store"
        assert good.headers["content-type"] == "text/html; charset=utf-8"
        assert await asyncio.wait_for(task, 10) == 0
    assert api.count("authorization_code") == 1


def test_result_page_is_the_panels_with_or_without_the_way_back() -> None:
    from aischoco.chat.chzzk_auth import result_page

    page = result_page("치지직 <로그인>", "a & b", ok=True)
    assert "<h1 style='color:#1a7f37'>치지직 &lt;로그인&gt;</h1><p>a &amp; b</p>" in page
    assert "/settings" not in page  # the terminal login's server has no settings page
    back = result_page("실패", "왜", ok=False, back_to_settings=True)
    assert "color:#cf222e" in back and "<a href='/settings'>설정으로 돌아가기</a>" in back
