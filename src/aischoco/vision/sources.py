"""Where frames come from: OBS (exactly what the stream shows) or a monitor (mss).

A source hands back a frame already scaled and encoded (`frames.Prepared`); the CPU work runs
through `run` (the vision component's worker process), never on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .frames import Prepared, prepare_data_uri, prepare_screen
from .obs_ws import ObsClient

SCREENSHOT_WIDTH = 1280  # OBS scales the screenshot itself: less to send over the socket

Run = Callable[..., Awaitable[Any]]  # run(fn, *args) in the worker process


class FrameSource(Protocol):
    label: str

    async def frame(self, run: Run) -> Prepared:
        """One frame now; raises (ObsError, OSError...) when it cannot."""

    async def aclose(self) -> None: ...


class ObsSource:
    """`GetSourceScreenshot` of OBS_SOURCE, or of the current program scene (follows cuts)."""

    def __init__(self, url: str, password: str | None, source: str | None = None) -> None:
        self._client = ObsClient(url, password)
        self._source = source
        self.label = f"OBS {url}"
        self.scene: str | None = None  # what was captured last

    async def screenshot(self) -> str:
        """The data URI OBS sends for what the stream shows now."""
        name = self._source
        if not name:
            current = await self._client.request("GetCurrentProgramScene")
            name = current.get("currentProgramSceneName") or current.get("sceneName")
            if not isinstance(name, str) or not name:
                raise RuntimeError("OBS did not name the program scene")
        shot = await self._client.request("GetSourceScreenshot", {
            "sourceName": name, "imageFormat": "jpg", "imageWidth": SCREENSHOT_WIDTH,
            "imageCompressionQuality": 75})
        self.scene = name
        uri = shot.get("imageData")
        if not isinstance(uri, str):
            raise RuntimeError("OBS sent no imageData")
        return uri

    async def frame(self, run: Run) -> Prepared:
        return await run(prepare_data_uri, await self.screenshot())

    async def aclose(self) -> None:
        await self._client.close()


class ScreenSource:
    """Monitor N (1 = the primary; mss's list), grabbed in the worker process."""

    def __init__(self, monitor: int = 1) -> None:
        self.monitor = monitor
        self.label = f"화면 {monitor}"

    async def frame(self, run: Run) -> Prepared:
        return await run(prepare_screen, self.monitor)

    async def aclose(self) -> None:
        return None
