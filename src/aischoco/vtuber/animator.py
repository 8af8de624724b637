"""The avatar animator: supervised component "vts" and the turn's Animator.

Its motion (the ticker and the mapping watcher) runs whenever something draws it: as component
"vts" with VTube Studio on (plus the link, sender and actions), or under the built-in avatar's
component with VTube Studio off (`run_motion`). Both get the same frames.

Four tasks: the link (connect/auth/reconnect), the ticker (VTS_FPS, drift-free, computes one
frame of every parameter), the sender (newest frame wins: while an injection is in flight, ticks
only replace the pending frame, so a slow VTS never causes a pile-up) and the action worker
(hotkeys/expressions, spaced for VTS's queue). Plus the mapping watcher (hot reload).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.stages import Emotion, tier_emotion
from ..core.status import State, StatusHandle
from .params_feed import ParamsFeed
from .link import LinkState, Rejected, VtsLink
from .avatar_pose import avatar_pose
from .lipsync import LipSync
from .mapping import DonationReaction, Expression, MappingError, MappingWatcher, PoseMapping
from .pose import PoseEngine
from .protocol import VtsApiError, VtsConnectionLost
from .tokens import TokenStore

log = logging.getLogger(__name__)

FOREIGN_RETRY_S = 5.0  # a parameter another plugin holds (454) is tried again after this
ACTION_SPACING_S = 0.2  # VTS runs one hotkey per 5 frames: never outrun it
ACTION_QUEUE = 32  # VTS's own hotkey queue length
STUCK_AFTER_TIMEOUTS = 3
EMOTION_HOLD_S = 2.0  # after a turn, its face lingers this long before the neutral pose


Action = tuple[str, dict[str, object]]  # (VTS request type, its data)


def _expression(expression: Expression, *, active: bool) -> Action:
    return ("ExpressionActivationRequest", {"expressionFile": expression.file,
                                            "fadeTime": expression.fade_s, "active": active})


def _on_actions(expression: Expression | None, hotkey: str | None) -> list[Action]:
    """Turn an expression on, then trigger a hotkey (either may be absent)."""
    actions = [_expression(expression, active=True)] if expression else []
    if hotkey:
        actions.append(("HotkeyTriggerRequest", {"hotkeyID": hotkey}))
    return actions


class VtsAnimator:
    name = "vts"

    def __init__(self, *, url: str, token_path: Path, mapping_path: Path, fps: int = 30,
                 timeout_s: float = 3.0, reconnect_max_s: float = 30.0,
                 feed: ParamsFeed | None = None, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, vts_enabled: bool = True) -> None:
        self.fps = fps
        self.vts_enabled = vts_enabled  # False: only the motion runs (the built-in avatar)
        self.feed = feed or ParamsFeed()
        self.lipsync = LipSync()
        self._clock, self._rng = clock, rng or random.Random()
        self.engine: PoseEngine | None = None
        self.mapping_error: MappingError | None = None
        self._watcher = MappingWatcher(mapping_path, self._on_mapping, self._on_mapping_error)
        self.link = VtsLink(url, TokenStore(token_path), timeout_s=timeout_s,
                            reconnect_max_s=reconnect_max_s, on_state=self._on_link,
                            mapping=lambda: self.engine.mapping if self.engine else None)
        self._link_state = LinkState("connecting")
        self._status: StatusHandle | None = None
        self._emotion, self._speaking = "neutral", False
        self._relax_at: float | None = None  # when the finished turn's emotion gives way
        self._unknown: set[str] = set()
        self._foreign: dict[str, float] = {}
        self._latest: dict[str, float] = {}
        self._frame_ready = asyncio.Event()
        self._actions: asyncio.Queue[Action] = asyncio.Queue(ACTION_QUEUE)
        self._timeouts = 0
        self.ticks = self.sent = self.replaced = 0
        self.intervals: deque[float] = deque(maxlen=4096)  # seconds between ticks (bench)

    # --- the turn's Animator ---------------------------------------------------------------------
    def set_emotion(self, emotion: str) -> None:
        previous, self._emotion = self._emotion, emotion
        self._relax_at = None
        if self.engine is None:
            return
        self.engine.set_emotion(emotion, self._clock())
        self._queue_actions(previous, emotion)

    def react_to_donation(self, tier: int) -> Emotion:
        reaction = self.engine.mapping.donation_reaction(tier) if self.engine else None
        emotion: Emotion = reaction.emotion if reaction else tier_emotion(tier)
        self.set_emotion(emotion)
        if reaction is not None and (reaction.hotkey or reaction.expression):
            self._queue_extra(reaction)
        return emotion

    async def request_access(self) -> None:
        """The settings page's "허용 다시 요청": VTube Studio shows its allow popup again."""
        await self.link.request_access()

    def set_speaking(self, speaking: bool) -> None:
        self._speaking = speaking
        # The answer's emotion is held for the turn; once it is over, back to neutral.
        self._relax_at = None if speaking else self._clock() + EMOTION_HOLD_S
        if self.engine is not None:
            self.engine.set_speaking(speaking, self._clock())

    def audio_tap(self, block: np.ndarray, rate: int, heard_at: float) -> None:
        """AudioOutput.add_tap: on the audio thread, never blocks."""
        self.lipsync.tap(block, rate, heard_at)

    def _queue_actions(self, previous: str, emotion: str) -> None:
        if self.link.client is None or self.engine is None:
            return  # not connected: a stale hotkey must not fire on reconnect
        mapping = self.engine.mapping
        old, new = mapping.emotion(previous), mapping.emotion(emotion)
        actions: list[Action] = []
        if old.expression and (not new.expression or new.expression.file != old.expression.file):
            actions.append(_expression(old.expression, active=False))
        self._put_actions([*actions, *_on_actions(new.expression, new.hotkey)])

    def _queue_extra(self, reaction: DonationReaction) -> None:
        """The tier's own hotkey/expression, after the emotion's (VTS runs them in order)."""
        if self.link.client is not None:
            self._put_actions(_on_actions(reaction.expression, reaction.hotkey))

    def _put_actions(self, actions: list[Action]) -> None:
        for action in actions:
            try:
                self._actions.put_nowait(action)
            except asyncio.QueueFull:
                log.warning("VTS hotkey/expression queue full (%d): %s dropped", ACTION_QUEUE,
                            action[0])

    # --- mapping and status ----------------------------------------------------------------------
    def _on_mapping(self, mapping: PoseMapping) -> None:
        now = self._clock()
        if self.engine is None:
            self.engine = PoseEngine(mapping, now=now, rng=self._rng, lipsync=self.lipsync)
            self.engine.set_emotion(self._emotion, now)
            self.engine.set_speaking(self._speaking, now)
        else:
            self.engine.apply_mapping(mapping, now)
        self._unknown.clear()  # names may have been fixed: VTS will say again if not
        self.link.mapping_changed()
        self._report()

    def _on_mapping_error(self, error: MappingError | None) -> None:
        self.mapping_error = error
        self._report()

    def _on_link(self, state: LinkState) -> None:
        self._link_state = state
        if state.phase == "ready":
            self._unknown = {n for n in self.engine.controlled()
                             if n not in self.link.known} if self.engine else set()
            for name in sorted(self._unknown):
                log.error("VTS parameter %s is unknown to VTube Studio (not a default input and "
                          "not created): disabled, the others continue — check pose_mapping.json",
                          name)
        self._report()

    def _report(self) -> None:
        if self._status is None:
            return
        link = self._link_state
        state = {"ready": State.RUNNING, "connecting": State.STARTING}.get(link.phase,
                                                                         State.DEGRADED)
        detail = f"{link.detail} · {self.fps} fps" if link.phase == "ready" else link.detail
        hint = link.hint
        if self._unknown:
            detail += f" · 꺼진 파라미터: {', '.join(sorted(self._unknown))} (VTS에 없음)"
            state = State.DEGRADED
        if self.mapping_error is not None:
            detail = f"포즈 매핑 오류 (이전 매핑 유지): {self.mapping_error} · {detail}"
            hint = hint or "config/pose_mapping.json을 고치면 1초 안에 다시 읽습니다"
            state = State.DEGRADED
        self._status.set(state, detail, hint)

    # --- the component ---------------------------------------------------------------------------
    async def run(self, status: StatusHandle) -> None:
        self._status = status
        self._watcher.check()
        if self.engine is None and self.mapping_error is not None:
            log.error("VTS animator waits for a valid pose mapping: %s", self.mapping_error)
        self._report()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.link.run(), name="vts-link")
            group.create_task(self._watcher.run(), name="vts-mapping")
            group.create_task(self._tick_loop(), name="vts-ticker")
            group.create_task(self._send_loop(), name="vts-sender")
            group.create_task(self._action_loop(), name="vts-actions")

    async def run_motion(self) -> None:
        """The motion alone (VTube Studio off): mapping watcher and ticker, for /ws/params."""
        self._watcher.check()
        if self.engine is None and self.mapping_error is not None:
            log.error("animator waits for a valid pose mapping: %s", self.mapping_error)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watcher.run(), name="motion-mapping")
            group.create_task(self._tick_loop(), name="motion-ticker")

    async def _tick_loop(self) -> None:
        period = 1.0 / self.fps
        next_at = last = self._clock()
        while True:
            next_at += period
            delay = next_at - self._clock()
            if delay < -period:  # the loop stalled: skip the missed ticks, never burst
                next_at = self._clock()
            await asyncio.sleep(max(0.0, delay))
            now = self._clock()
            self.intervals.append(now - last)
            last = now
            self.tick(now)

    def tick(self, now: float) -> dict[str, float] | None:
        """One frame: computed, published on /ws/params, handed to the sender (newest wins)."""
        if self.engine is None:
            return None
        self._foreign = {n: t for n, t in self._foreign.items() if t > now}
        self.engine.disabled = self._unknown | set(self._foreign)
        if self._relax_at is not None and now >= self._relax_at:
            self._relax()
        engine = self.engine
        frame = engine.frame(now)
        self.ticks += 1
        self.feed.publish(time.time(), frame, lambda: {
            "emotion": engine.emotion, "speaking": engine.speaking,
            "pose": avatar_pose(frame, engine.mapping, mouth=engine.mouth_open,
                                eyes=engine.eyes_open)})
        if self._frame_ready.is_set():
            self.replaced += 1  # the sender is still busy with an older frame
        self._latest = frame
        self._frame_ready.set()
        return frame

    def _relax(self) -> None:
        self._relax_at = None
        if self._emotion == "neutral" or self.engine is None:
            return
        previous, self._emotion = self._emotion, "neutral"
        self.engine.relax(self._clock())
        self._queue_actions(previous, "neutral")

    async def _send_loop(self) -> None:
        while True:
            await self._frame_ready.wait()
            self._frame_ready.clear()
            if self.link.client is None:
                continue
            try:
                await self.link.inject(self._latest)
                self.sent += 1
                self._timeouts = 0
            except Rejected as exc:
                self._rejected(exc)
            except VtsConnectionLost as exc:
                self._timeouts += 1
                client = self.link.client
                if self._timeouts >= STUCK_AFTER_TIMEOUTS and client is not None:
                    log.warning("VTS injection failing (%s): reconnecting", exc)
                    self._timeouts = 0
                    await client.aclose()
            except VtsApiError as exc:
                log.error("%s", exc)

    def _rejected(self, exc: Rejected) -> None:
        names = ", ".join(sorted(exc.names))
        if exc.permanent:
            self._unknown |= exc.names
            log.error("%s → parameter(s) %s disabled, the others continue; "
                      "check pose_mapping.json", exc.error, names)
        else:
            until = self._clock() + FOREIGN_RETRY_S
            self._foreign.update(dict.fromkeys(exc.names, until))
            log.warning("%s → %s left to the other plugin, retrying in %.0f s", exc.error, names,
                        FOREIGN_RETRY_S)
        self._report()

    async def _action_loop(self) -> None:
        while True:
            message_type, data = await self._actions.get()
            try:
                await self.link.trigger(message_type, data)
            except VtsApiError as exc:
                log.error("%s", exc)
            except VtsConnectionLost as exc:
                log.info("VTS %s dropped: %s", message_type, exc)
            await asyncio.sleep(ACTION_SPACING_S)

    async def aclose(self) -> None:
        await self.link.aclose()
        self.feed.close()
