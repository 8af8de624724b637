"""The connection to VTube Studio: connect, authenticate (asking for a token when needed),
create our custom parameters, inject frames — and reconnect with backoff when VTS closes,
restarts or revokes the plugin."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.backoff import backoff_delay
from .auth import TokenDenied, ensure_authenticated
from .client import VtsClient
from .mapping import PoseMapping
from .protocol import (
    ERR_FOREIGN_CONTROL,
    ERR_NEEDS_AUTH,
    ERR_UNKNOWN_PARAMETER,
    ERR_USER_DENIED,
    VtsApiError,
    VtsConnectionLost,
    VtsError,
)
from .tokens import TokenStore

log = logging.getLogger(__name__)

TOKEN_POLL_S = 1.0
ALLOW_HINT = "python -m aischoco auth vts 를 실행하거나 VTube Studio에서 허용을 누르세요"
START_HINT = "VTube Studio를 켜고 설정에서 'API 시작'을 켜세요 (VTS_URL 포트와 같게)"


@dataclass(frozen=True, slots=True)
class LinkState:
    phase: str  # connecting | allow | denied | ready | retry
    detail: str = ""
    hint: str = ""


class Rejected(VtsError):
    """Injection refused for some parameters; `names` must be left out (for now)."""

    def __init__(self, error: VtsApiError, names: set[str], permanent: bool) -> None:
        super().__init__(str(error))
        self.error, self.names, self.permanent = error, names, permanent


class VtsLink:
    def __init__(self, url: str, store: TokenStore, *, timeout_s: float = 3.0,
                 reconnect_max_s: float = 30.0,
                 on_state: Callable[[LinkState], None] = lambda state: None,
                 mapping: Callable[[], PoseMapping | None] = lambda: None) -> None:
        self.url, self.store = url, store
        self.timeout_s, self.reconnect_max_s = timeout_s, reconnect_max_s
        self._on_state, self._mapping = on_state, mapping
        self.client: VtsClient | None = None  # set only while authenticated and set up
        self.known: set[str] = set()  # input parameter names VTS reported at setup
        self.info: dict[str, Any] = {}
        self.connects = 0
        self._resetup = asyncio.Event()
        self._ask_again = asyncio.Event()  # the panel's "허용 다시 요청"

    # --- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        while True:
            self._on_state(LinkState("connecting", f"{self.url} 연결 중"))
            client: VtsClient | None = None
            try:
                client = await VtsClient.open(self.url, timeout_s=self.timeout_s)
                await self._authenticate(client)
                self._resetup.clear()  # this setup already uses the newest mapping
                await self.setup(client)
                self.client, attempt = client, 0
                self.connects += 1
                self._on_state(LinkState("ready", self._describe()))
                reason = await self._serve(client)
                log.warning("VTube Studio connection ended: %s", reason)
                reason = "VTube Studio와의 연결이 끊겼습니다 (VTube Studio를 껐거나 API를 껐나요?)"
            except TokenDenied as exc:
                log.warning("VTube Studio: %s; waiting for a token (%s)", exc, ALLOW_HINT)
                self._on_state(LinkState("denied", str(exc), ALLOW_HINT))
                await self._close(client)
                await self._wait_for_token_file()
                continue
            except VtsError as exc:
                log.warning("VTube Studio: %s", exc)  # the technical reason, for the log
                reason = self._reason_ko(exc, connected=client is not None)
            finally:
                self.client = None
            await self._close(client)
            delay = backoff_delay(attempt, cap_s=self.reconnect_max_s)
            attempt += 1
            self._on_state(LinkState("retry", f"{reason[:160]} — {delay:.0f}초 후 다시 연결",
                                     START_HINT))
            await asyncio.sleep(delay)

    def _reason_ko(self, exc: VtsError, *, connected: bool) -> str:
        """Why the link is down, in Korean for the status row (the log keeps the English)."""
        if not connected:
            return (f"VTube Studio에 연결할 수 없습니다 ({self.url}): VTube Studio가 꺼져 있거나 "
                    "API가 꺼져 있습니다")
        if isinstance(exc, VtsApiError) and exc.error_id == 1:
            return "VTube Studio 설정에서 API가 꺼져 있습니다"
        if isinstance(exc, VtsApiError):
            return f"VTube Studio가 요청을 거절했습니다 (오류 {exc.error_id})"
        if "no answer within" in str(exc):
            return "VTube Studio가 제때 답하지 않았습니다"
        return "VTube Studio와의 연결이 끊겼습니다"

    async def _serve(self, client: VtsClient) -> str:
        """Until the socket closes; a reloaded mapping re-creates custom parameters meanwhile."""
        closed = asyncio.ensure_future(client.wait_closed())
        resetup: asyncio.Future[bool] | None = None
        try:
            while True:
                resetup = asyncio.ensure_future(self._resetup.wait())
                done, _ = await asyncio.wait({closed, resetup}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    return closed.result()
                self._resetup.clear()
                await self.setup(client)
                self._on_state(LinkState("ready", self._describe()))
        finally:
            closed.cancel()
            if resetup is not None:
                resetup.cancel()

    def mapping_changed(self) -> None:
        self._resetup.set()

    async def _authenticate(self, client: VtsClient) -> None:
        def prompt(text: str) -> None:
            log.warning("VTube Studio: %s (plugin %r asks for access)", text, "aischoco")
            self._on_state(LinkState("allow", text, "VTube Studio 창에 뜬 허용 버튼을 누르세요"))

        state = await client.request("APIStateRequest")
        self.info = {"version": state.get("vTubeStudioVersion", "?")}
        if await ensure_authenticated(client, self.store, prompt=prompt):
            log.info("VTube Studio: new plugin token saved to %s", self.store.path)

    async def setup(self, client: VtsClient) -> None:
        """Create our custom parameters and learn which input parameters exist."""
        mapping = self._mapping()
        for name, p in (mapping.parameters.items() if mapping else ()):
            if not p.create:
                continue
            try:
                await client.request("ParameterCreationRequest", {
                    "parameterName": name, "explanation": p.explanation or "aischoco",
                    "min": p.min, "max": p.max, "defaultValue": p.default})
            except VtsApiError as exc:
                log.error("VTube Studio: cannot create parameter %s: %s", name, exc)
        listing = await client.request("InputParameterListRequest")
        self.known = {str(entry.get("name")) for key in ("customParameters", "defaultParameters")
                      for entry in listing.get(key, []) if isinstance(entry, dict)}
        self.info["model"] = listing.get("modelName") if listing.get("modelLoaded") else None

    def _describe(self) -> str:
        model = self.info.get("model")
        return (f"연결됨 · VTube Studio {self.info.get('version', '?')} · "
                f"{'모델: ' + model if model else '모델 없음'}")

    async def _wait_for_token_file(self) -> None:
        stamp = self.store.stamp()
        self._ask_again.clear()
        while (self.store.stamp() == stamp or self.store.load() is None) \
                and not self._ask_again.is_set():
            await asyncio.sleep(TOKEN_POLL_S)

    async def request_access(self) -> None:
        """Ask VTube Studio for access again (its allow popup), from the control panel: the saved
        token is dropped and the connection re-made, which asks for a new one."""
        self.store.forget()
        self._ask_again.set()
        client, self.client = self.client, None
        await self._close(client)

    @staticmethod
    async def _close(client: VtsClient | None) -> None:
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        client, self.client = self.client, None
        await self._close(client)

    # --- requests while ready ------------------------------------------------------------------
    async def inject(self, values: dict[str, float]) -> None:
        """One InjectParameterDataRequest with every value. Raises Rejected for parameters VTS
        refuses (unknown: 453, another plugin's: 454); other errors drop the connection."""
        client = self.client
        if client is None or not values:
            return
        body = {"faceFound": False, "mode": "set",
                "parameterValues": [{"id": k, "value": v} for k, v in values.items()]}
        try:
            await client.request("InjectParameterDataRequest", body)
        except VtsApiError as exc:
            if exc.error_id == ERR_UNKNOWN_PARAMETER:
                raise Rejected(exc, await self._unknown(client, values), permanent=True) from None
            if exc.error_id == ERR_FOREIGN_CONTROL:
                raise Rejected(exc, _named(exc.message, values) or set(values),
                               permanent=False) from None
            if exc.error_id in (ERR_NEEDS_AUTH, ERR_USER_DENIED):
                log.error("%s — reconnecting to authenticate again", exc)
                await client.aclose()  # run() reconnects; a revoked token gets a new popup
                raise VtsConnectionLost(str(exc)) from None
            raise

    async def _unknown(self, client: VtsClient, values: dict[str, float]) -> set[str]:
        try:
            listing = await client.request("InputParameterListRequest")
        except VtsError:
            return _named("", values)
        self.known = {str(e.get("name")) for key in ("customParameters", "defaultParameters")
                      for e in listing.get(key, []) if isinstance(e, dict)}
        return {name for name in values if name not in self.known}

    async def trigger(self, message_type: str, data: dict[str, Any]) -> None:
        client = self.client
        if client is None:
            raise VtsConnectionLost("not connected")
        await client.request(message_type, data)


def _named(message: str, values: dict[str, float]) -> set[str]:
    """The parameter ids an error message names (longest first: MouthOpen before Mouth...)."""
    found: set[str] = set()
    for name in sorted(values, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", message):
            found.add(name)
    return found
