"""Supervised component "avatar" (아바타): keeps the built-in avatar's files and status row true,
and, while VTube Studio is off, runs the animator's motion for the /avatar page.

It runs whatever AVATAR says, so a switch on the settings page (or an upload) takes effect
without a restart: the row follows the mode, the motion starts and stops with it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..core.status import StatusHandle
from .store import AvatarStore

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0  # files edited on disk and AVATAR changes show within this


class AvatarComponent:
    name = "avatar"

    def __init__(self, store: AvatarStore, *, motion: Callable[[], Awaitable[None]] | None,
                 motion_wanted: Callable[[], bool]) -> None:
        """`motion`: the animator's motion alone (None: VTube Studio's component runs it);
        `motion_wanted`: whether something draws the avatar now (AVATAR is not off)."""
        self.store = store
        self._motion = motion
        self._motion_wanted = motion_wanted
        self._motion_task: asyncio.Task[None] | None = None
        self._said: tuple[object, ...] | None = None

    async def run(self, status: StatusHandle) -> None:
        try:
            while True:
                await self.store.refresh(max_age_s=0)
                row = self.store.status()
                if (row.state, row.detail) != self._said:
                    if self._said is not None or row.detail != "AVATAR=off":
                        log.info("avatar: %s", row.detail)
                    self._said = (row.state, row.detail)
                status.set(row.state, row.detail, row.hint)
                self._steer_motion()
                await asyncio.sleep(CHECK_EVERY_S)
        finally:
            await self._stop_motion()

    def _steer_motion(self) -> None:
        if self._motion is None:
            return
        running = self._motion_task is not None and not self._motion_task.done()
        if self._motion_task is not None and self._motion_task.done():
            error = None if self._motion_task.cancelled() else self._motion_task.exception()
            if error is not None:  # a crashed ticker is restarted on the next check
                log.error("avatar motion stopped: %s", error)
            self._motion_task = None
        if self._motion_wanted() and not running:
            self._motion_task = asyncio.create_task(self._motion(), name="avatar-motion")
        elif not self._motion_wanted() and running:
            assert self._motion_task is not None
            self._motion_task.cancel()

    async def _stop_motion(self) -> None:
        task, self._motion_task = self._motion_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        await self._stop_motion()
