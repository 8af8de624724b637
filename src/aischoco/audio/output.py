"""The audio-out component: owns the players, hands out segments (one per sentence), reports when
each segment is heard, and reopens a device that disappeared.

Everything here runs on the event loop except the players' threads, which only touch their
PlaybackBuffer and call back through `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.stages import AudioChunk, StageError
from ..core.status import State, StatusHandle
from ..tts.pcm import pcm16_to_float
from .buffer import Boundary, SegmentEvent
from .devices import AudioDeviceError, find_output
from .players import DevicePlayer, FilePlayer, Player
from .resample import StreamResampler

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.25
# Called on the primary player's thread with each block as it will be heard (lip-sync).
BlockTap = Callable[[np.ndarray, int, float], None]


class AudioLost(StageError):
    """The output device went away while a sentence was playing."""


@dataclass(slots=True)
class Segment:
    """One sentence on its way to the speakers. `started`/`ended` resolve (loop time) when the
    first/last sample is heard; an empty segment (TTS produced nothing) resolves at its turn."""

    id: int
    _players: list[Player]
    _resamplers: list[StreamResampler] = field(default_factory=list)
    started: asyncio.Future[float] = field(default_factory=asyncio.Future)
    ended: asyncio.Future[float] = field(default_factory=asyncio.Future)
    frames_in: int = 0  # source frames written
    closed: bool = False

    def write(self, chunk: AudioChunk) -> None:
        if self.closed or not chunk.pcm:
            return
        samples = pcm16_to_float(chunk.pcm)
        self.frames_in += samples.size
        if not self._resamplers or self._resamplers[0].in_rate != chunk.sample_rate:
            self._flush_resamplers()  # first chunk, or an engine that changed its rate
            self._resamplers = [StreamResampler(chunk.sample_rate, p.rate) for p in self._players]
        for player, resampler in zip(self._players, self._resamplers, strict=True):
            player.buffer.push(self.id, resampler.process(samples))

    def finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._flush_resamplers()
        for player in self._players:
            player.buffer.finish(self.id)

    def _flush_resamplers(self) -> None:
        for player, resampler in zip(self._players, self._resamplers, strict=False):
            player.buffer.push(self.id, resampler.flush())
        self._resamplers = []


class AudioOutput:
    """Supervised component "audio". `spec`: device name/index/default or `file:PATH.wav`."""

    name = "audio"

    def __init__(self, spec: str, *, monitor: str | None = None, block_ms: int = 20,
                 file_rate: int = 24000, realtime_file: bool = True) -> None:
        self.spec = spec
        self._switch_requested = False
        self.monitor = monitor
        self._block_ms = block_ms
        self._file_rate = file_rate
        self._realtime_file = realtime_file
        self._players: list[Player] = []
        self._segments: dict[int, Segment] = {}
        self._ids = itertools.count(1)
        self._taps: list[BlockTap] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened_before = False
        self._gain = 1.0

    @property
    def available(self) -> bool:
        return bool(self._players)

    @property
    def label(self) -> str:
        return self._players[0].label if self._players else self.spec

    def add_tap(self, tap: BlockTap) -> None:
        self._taps.append(tap)

    # --- speaking --------------------------------------------------------------------------
    def open_segment(self) -> Segment:
        if not self._players:
            raise AudioLost(f"오디오 출력이 준비되지 않았습니다 ({self.spec})")
        segment = Segment(next(self._ids), list(self._players))
        self._segments[segment.id] = segment
        return segment

    def set_gain(self, gain: float) -> None:
        """Volume of everything played from now on (1.0 normal); barge-in ducks with it."""
        self._gain = max(0.0, min(1.0, gain))
        for player in self._players:
            player.gain.target = self._gain

    def stop_all(self) -> None:
        """Skip: silence within one block; unheard segments resolve as never started."""
        for player in self._players:
            player.buffer.clear()
        for segment in list(self._segments.values()):
            segment.closed = True
            self._settle(segment, cut=True)
        self._segments.clear()

    def _settle(self, segment: Segment, *, cut: bool, error: Exception | None = None) -> None:
        loop_time = asyncio.get_running_loop().time()
        for future in (segment.started, segment.ended):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
                future.exception()  # seen by whoever awaits it; no warning if nobody does
            elif future is segment.started:
                future.cancel()  # never heard
            else:
                future.set_result(loop_time)

    # --- player thread → loop ---------------------------------------------------------------
    def _make_block_handler(self, player: Player, primary: bool) -> Callable[..., None]:
        loop = self._loop
        assert loop is not None

        def on_block(block: np.ndarray, events: list[SegmentEvent], heard_at: float) -> None:
            if not primary:
                return
            for tap in self._taps:
                tap(block, player.rate, heard_at)
            if events:
                loop.call_soon_threadsafe(self._on_events, events, heard_at, player.rate)

        return on_block

    def _on_events(self, events: list[SegmentEvent], heard_at: float, rate: int) -> None:
        loop = asyncio.get_running_loop()
        for event in events:
            segment = self._segments.get(event.segment)
            if segment is None:
                continue
            future = segment.started if event.boundary is Boundary.STARTED else segment.ended
            at = heard_at + event.offset / rate
            loop.call_at(at, _resolve, future, at)
            if event.boundary is Boundary.ENDED:
                del self._segments[event.segment]

    # --- lifecycle ---------------------------------------------------------------------------
    def _open_players(self) -> list[Player]:
        """Runs in a thread: device queries and stream start can block for a while."""
        players: list[Player] = []
        refresh = self._opened_before  # every player is closed now: PortAudio may re-scan
        self._opened_before = True
        for spec in filter(None, (self.spec, self.monitor)):
            if spec.startswith("file:"):
                players.append(FilePlayer(Path(spec[5:]), rate=self._file_rate,
                                          block_ms=self._block_ms, realtime=self._realtime_file))
            else:
                players.append(DevicePlayer(find_output(spec, refresh=refresh),
                                            block_ms=self._block_ms))
                refresh = False
        return players

    async def run(self, status: StatusHandle) -> None:
        self._loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            status.set(State.STARTING, f"오디오 출력 여는 중: {self.spec}")
            try:
                players = await asyncio.to_thread(self._open_players)
                for index, player in enumerate(players):
                    await asyncio.to_thread(player.start,
                                            self._make_block_handler(player, index == 0))
            except AudioDeviceError as exc:
                attempt += 1
                await status.retry_later(attempt, exc, exc.hint or "AUDIO_OUTPUT_DEVICE를 확인하세요 "
                                         "(`python -m aischoco devices`)", "audio output")
                continue
            self._players = players
            self.set_gain(self._gain)  # a reopened device keeps the current volume
            attempt = 0
            extra = f" + 모니터 {players[1].label}" if len(players) > 1 else ""
            status.set(State.RUNNING, f"{players[0].label}{extra}")
            log.info("audio output: %s%s", players[0].label, extra)
            try:
                problem = await self._watch()
            finally:
                self._close(AudioLost("오디오 출력이 닫혔습니다"))
            log.warning("audio output lost: %s", problem)
            status.set(State.DEGRADED, f"{problem} — 다시 연결합니다")

    def switch(self, spec: str, monitor: str | None) -> None:
        """New devices from the settings page: close and reopen on them (the status row shows it
        coming back). A turn speaking now is cut, as when a device is unplugged."""
        self.spec, self.monitor = spec, monitor
        self._switch_requested = True

    async def _watch(self) -> str:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if self._switch_requested:
                self._switch_requested = False
                return f"출력 장치 설정이 바뀌었습니다 ({self.spec})"
            for player in self._players:
                problem = player.problem()
                if problem:
                    return problem

    def _close(self, error: Exception, *, stop_players: bool = True) -> None:
        players, self._players = self._players, []
        for player in players if stop_players else ():
            player.stop()
        for segment in self._segments.values():
            segment.closed = True
            self._settle(segment, cut=True, error=error)
        self._segments.clear()

    async def aclose(self) -> None:
        players = list(self._players)
        self._close(AudioLost("오디오 출력이 닫혔습니다"), stop_players=False)
        await asyncio.to_thread(lambda: [player.stop() for player in players])


def _resolve(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


__all__ = ["AudioDeviceError", "AudioLost", "AudioOutput", "Segment"]
