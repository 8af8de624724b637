"""The voice studio behind `/voice`: a recorded or uploaded clip becomes the clone reference.

    bytes ─► decode ─► analysis (levels, length, Korean advice) ─► draft (kept in memory)
    draft ─► STT transcript · 미리 듣기 with the running TTS engine (the voice in use untouched)
    draft + transcript ─► save: the old pair copied to backup/, the new one written atomically to
    VOICE_SAMPLE / VOICE_SAMPLE_TEXT ─► the engine's voice swapped without a restart

Decoding, analysis, WAV encoding and file writes run in threads: the event loop keeps the show
going while the streamer works on the sample."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import secrets
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic_file import atomic_write_bytes
from ..core.stages import SpeechEngine, StageError
from ..listen.stt import SAMPLE_RATE as STT_RATE
from ..listen.stt import SttError
from ..listen.transcribers import build_stt
from ..overlay.panel_api import Refused
from ..settings.model import Settings
from ..tts.audio_decode import AudioDecodeError, decode_audio
from ..tts.pcm import wav_bytes
from ..tts.sample_analysis import SampleReport, analyze
from ..tts.voice_sample import (Reference, VoiceCloning, VoiceSampleError, prepare_reference,
                               speech_bounds)

log = logging.getLogger(__name__)

MAX_DRAFTS = 4  # recordings kept for 미리 듣기 / 저장; older ones are dropped
MAX_BACKUPS = 20  # backup pairs kept beside the sample; the oldest go first
MAX_TEXT_CHARS = 500
MIN_TRIM_S = 1.0  # a cut shorter than this cannot hold a sentence
PREVIEW_TEXT = "안녕하세요! 새 목소리로 말해 보는 중이에요. 어때요, 잘 어울리나요?"
SCRIPTS = (  # varied sentences to read aloud: a greeting, surprise, a question, thanks
    "안녕하세요, 여러분! 오늘도 제 방송에 와 주셔서 정말 고마워요. 같이 재밌게 놀아 봐요!",
    "어? 방금 그거 봤어요? 진짜 깜짝 놀랐잖아요. 다음엔 꼭 성공할 거예요, 믿어 주세요!",
    "오늘 저녁은 뭐 먹을까요? 떡볶이도 좋고 치킨도 좋은데, 여러분이 골라 주세요.",
    "비 오는 날엔 따뜻한 코코아 한 잔이 최고예요. 여러분은 어떤 날씨를 좋아해요?",
    "우와, 후원 고마워요! 덕분에 힘이 나요. 오늘 방송도 끝까지 함께해 줄 거죠?",
)
BACKUP_NAME = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


class StudioError(Refused):
    """Shown to the streamer as is (Korean first)."""


@dataclass(slots=True)
class Draft:
    samples: np.ndarray  # the whole clip, mono float32
    rate: int
    report: SampleReport


class VoiceStudio:
    def __init__(self, settings: Callable[[], Settings],
                 engine: Callable[[], SpeechEngine | None]) -> None:
        """`settings`: the latest saved settings (paths, STT); `engine`: the TTS engine in use."""
        self._settings = settings
        self._engine = engine
        self._drafts: OrderedDict[str, Draft] = OrderedDict()
        self._lock = asyncio.Lock()  # one save at a time

    # --- what the page shows first ------------------------------------------------------

    async def info(self) -> dict[str, Any]:
        s = self._settings()
        current = await asyncio.to_thread(_describe_sample, s.voice_sample, s.voice_sample_text)
        stt_problem = self._stt_problem(s)
        return {"sample": current, "backups": await asyncio.to_thread(self._backups),
                "scripts": list(SCRIPTS), "preview_text": PREVIEW_TEXT,
                "can_preview": self._cloner() is not None, "preview_why": self._why_no_preview(),
                "stt": None if stt_problem else s.stt_engine, "stt_why": stt_problem or "",
                "tts_engine": s.tts_engine}

    # --- a clip in ----------------------------------------------------------------------

    async def add_clip(self, data: bytes) -> dict[str, Any]:
        try:
            samples, rate = await asyncio.to_thread(decode_audio, data)
        except AudioDecodeError as exc:
            raise StudioError(_korean(exc)) from None
        return self._keep(samples, rate, await asyncio.to_thread(analyze, samples, rate))

    async def draft_from_backup(self, name: str) -> dict[str, Any]:
        """A backup pair back into the studio (listen, preview, save to restore it)."""
        wav, text = self._backup_pair(name)
        try:
            data = await asyncio.to_thread(wav.read_bytes)
        except OSError as exc:
            raise StudioError(f"백업을 읽을 수 없습니다: {exc}") from None
        result = await self.add_clip(data)
        return {**result, "text": await asyncio.to_thread(_read_text, text)}

    async def trim(self, draft_id: str, start_s: float, end_s: float) -> dict[str, Any]:
        """A new draft from part of one (a long upload cut to its best 3-10 s)."""
        draft = self._draft(draft_id)
        duration = draft.samples.size / draft.rate
        if not 0 <= start_s < end_s <= duration + 0.01 or end_s - start_s < MIN_TRIM_S:
            raise StudioError(f"구간이 올바르지 않습니다: 0~{duration:.1f}초 안에서 {MIN_TRIM_S:.0f}초 이상 "
                              "골라 주세요.")
        part = draft.samples[round(start_s * draft.rate):round(end_s * draft.rate)].copy()
        return self._keep(part, draft.rate, await asyncio.to_thread(analyze, part, draft.rate))

    async def draft_wav(self, draft_id: str) -> bytes:
        draft = self._draft(draft_id)
        return await asyncio.to_thread(wav_bytes, draft.samples, draft.rate)

    def _keep(self, samples: np.ndarray, rate: int, report: SampleReport) -> dict[str, Any]:
        draft_id = secrets.token_hex(8)
        self._drafts[draft_id] = Draft(samples, rate, report)
        while len(self._drafts) > MAX_DRAFTS:
            self._drafts.popitem(last=False)
        return {"draft": draft_id, "report": report.to_dict()}

    def _draft(self, draft_id: str) -> Draft:
        draft = self._drafts.get(draft_id)
        if draft is None:
            raise StudioError("녹음을 찾을 수 없습니다. 다시 녹음하거나 파일을 다시 올려 주세요.")
        return draft

    # --- transcript, preview, save ------------------------------------------------------

    async def transcribe(self, draft_id: str) -> dict[str, Any]:
        draft, s = self._draft(draft_id), self._settings()
        problem = self._stt_problem(s)
        if problem is not None:
            raise StudioError(problem)
        speech = await asyncio.to_thread(_speech_16k, draft.samples, draft.rate)
        stt = build_stt(s)
        try:
            await stt.load()
            transcript = await stt.transcribe(speech)
        except SttError as exc:
            raise StudioError(f"받아쓰기 실패: {exc} — 대본을 직접 적어 주세요.") from None
        finally:
            await stt.aclose()
        return {"text": transcript.text, "engine": s.stt_engine}

    async def preview(self, draft_id: str, text: str, sentence: str) -> bytes:
        """`sentence` in the draft's voice, as a WAV for the page's player."""
        cloner = self._cloner()
        if cloner is None:
            raise StudioError(self._why_no_preview())
        reference = await self._reference(draft_id, text)
        sentence = " ".join(sentence.split())[:MAX_TEXT_CHARS] or PREVIEW_TEXT
        started = time.monotonic()
        try:
            audio, rate = await cloner.preview_voice(reference, sentence)
        except StageError as exc:
            raise StudioError(_korean(exc)) from None
        log.info("voice preview: %.1f s of audio in %.1f s", audio.size / rate,
                 time.monotonic() - started)
        return await asyncio.to_thread(wav_bytes, audio, rate)

    async def save(self, draft_id: str, text: str) -> dict[str, Any]:
        draft = self._draft(draft_id)
        if not draft.report.usable:
            raise StudioError(" ".join(a.message for a in draft.report.advice if a.level == "error"))
        reference = await self._reference(draft_id, text)
        s = self._settings()
        async with self._lock:  # two saves land whole and in order, files and voice alike
            backup = await asyncio.to_thread(self._write, s.voice_sample, s.voice_sample_text,
                                             draft, reference.text)
            applied, detail = await self._apply(reference)
        log.info("voice sample saved to %s (%.1f s of speech); applied live: %s", s.voice_sample,
                 reference.speech_s, applied)
        return {"saved": True, "applied": applied, "detail": detail, "backup": backup,
                "sample": await asyncio.to_thread(_describe_sample, s.voice_sample,
                                                  s.voice_sample_text)}

    async def _reference(self, draft_id: str, text: str) -> Reference:
        draft = self._draft(draft_id)
        text = " ".join(text.split())
        if not text:
            raise StudioError("대본을 적어 주세요. 녹음에서 말한 그대로 적어야 목소리가 제대로 나와요.")
        if len(text) > MAX_TEXT_CHARS:
            raise StudioError(f"대본이 너무 깁니다 ({len(text)}자). 10초 녹음이면 보통 60자 안팎이에요.")
        try:
            return await asyncio.to_thread(prepare_reference, draft.samples, draft.rate, text)
        except VoiceSampleError as exc:
            raise StudioError(_korean(exc)) from None

    async def _apply(self, reference: Reference) -> tuple[bool, str]:
        cloner, s = self._cloner(), self._settings()
        if cloner is None:
            if s.tts_engine == "off":
                return False, "저장했습니다. 음성 합성이 꺼져 있어요 (TTS_ENGINE=off): 켜면 이 샘플로 말합니다."
            if s.tts_engine == "remote" and not s.tts_remote_send_reference:
                return False, ("저장했습니다. 다만 원격 TTS 서버는 서버에 있는 목소리로 말해요: "
                               "TTS_REMOTE_SEND_REFERENCE=true로 하면 이 샘플을 보냅니다.")
            return False, "저장했습니다. 음성 합성이 준비되면 이 샘플로 말합니다."
        try:
            await cloner.use_voice(reference)
        except StageError as exc:
            return False, f"저장했습니다. {_korean(exc)}"
        return True, "저장했습니다. 다음 문장부터 새 목소리로 말합니다 (다시 시작할 필요 없음)."

    # --- files ----------------------------------------------------------------------------

    def _write(self, wav: Path, text_path: Path, draft: Draft, text: str) -> str | None:
        """The old pair into backup/<time>, then the new pair, each file atomically."""
        backup = None
        if wav.exists():
            folder = wav.parent / "backup"
            folder.mkdir(parents=True, exist_ok=True)
            backup = _unique_stamp(folder)
            shutil.copy2(wav, folder / f"{backup}.wav")
            if text_path.exists():
                shutil.copy2(text_path, folder / f"{backup}.txt")
            self._prune(folder)
        start, end = speech_bounds(draft.samples, draft.rate)  # what the engine uses, no more
        wav.parent.mkdir(parents=True, exist_ok=True)
        text_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(wav, wav_bytes(draft.samples[start:end], draft.rate))
        atomic_write_bytes(text_path, (text + "\n").encode("utf-8"))
        return backup

    def _backups(self) -> list[dict[str, Any]]:
        folder = self._settings().voice_sample.parent / "backup"
        if not folder.is_dir():
            return []
        return [{"name": name, "text": _read_text(folder / f"{name}.txt")}
                for name in reversed(_backup_names(folder))]

    def _backup_pair(self, name: str) -> tuple[Path, Path]:
        if not BACKUP_NAME.match(name):
            raise StudioError("백업 이름이 올바르지 않습니다.")
        folder = self._settings().voice_sample.parent / "backup"
        wav = folder / f"{name}.wav"
        if not wav.is_file():
            raise StudioError("그 백업이 없습니다.")
        return wav, wav.with_suffix(".txt")

    def backup_wav(self, name: str) -> Path:
        return self._backup_pair(name)[0]

    def current_wav(self) -> Path:
        wav = self._settings().voice_sample
        if not wav.is_file():
            raise StudioError("아직 목소리 샘플이 없습니다.")
        return wav

    def _prune(self, folder: Path) -> None:
        for stale in _backup_names(folder)[:-MAX_BACKUPS]:
            for suffix in (".wav", ".txt"):
                (folder / f"{stale}{suffix}").unlink(missing_ok=True)

    # --- what can be done here ------------------------------------------------------------

    def _cloner(self) -> VoiceCloning | None:
        engine = self._engine()
        if engine is None or not getattr(engine, "clones_voice", False):
            return None
        return engine  # type: ignore[return-value]  # checked: it has the studio's methods

    def _why_no_preview(self) -> str:
        s = self._settings()
        if s.tts_engine == "off":
            return "TTS_ENGINE=off라 미리 듣기를 할 수 없습니다."
        if s.tts_engine == "remote" and not s.tts_remote_send_reference:
            return ("원격 TTS 서버는 서버에 있는 목소리로 말합니다. 샘플로 말하게 하려면 "
                    "TTS_REMOTE_SEND_REFERENCE=true로 설정하세요.")
        if self._cloner() is not None:
            return ""
        return ("음성 합성(TTS)이 준비되지 않아 미리 들을 수 없습니다 (컨트롤 패널의 TTS 줄에서 할 일을 "
                "확인하세요). 샘플은 저장할 수 있어요.")

    @staticmethod
    def _stt_problem(s: Settings) -> str | None:
        if s.stt_engine == "off":
            return ("받아쓰기(STT) 엔진이 없습니다 (GROQ_API_KEY 또는 STT_ENGINE=whisper). "
                    "대본을 직접 적어 주세요.")
        if s.stt_engine == "whisper" and importlib.util.find_spec("faster_whisper") is None:
            return ("로컬 Whisper가 설치되지 않았습니다 (pip install -r requirements-voice.txt). "
                    "대본을 직접 적어 주세요.")
        return None


def _describe_sample(wav: Path, text: Path) -> dict[str, Any]:
    """The sample in use, with the same advice a new recording gets (a sample dropped in by hand
    may be too short or noisy: the page says so)."""
    info: dict[str, Any] = {"wav": str(wav), "text_path": str(text), "exists": wav.is_file(),
                            "text": _read_text(text), "advice": []}
    if info["exists"]:
        try:
            samples, rate = decode_audio(wav.read_bytes())
        except (OSError, AudioDecodeError) as exc:
            info["problem"] = f"읽을 수 없는 파일입니다 ({_korean(exc)})"
            return info
        report = analyze(samples, rate)
        info.update(duration_s=round(samples.size / rate, 2), sample_rate=rate,
                    speech_s=round(report.speech_s, 2),
                    advice=[{"code": a.code, "level": a.level, "message": a.message}
                            for a in report.advice])
    return info


def _korean(exc: BaseException) -> str:
    """The Korean half of our "한국어 / English" messages: the page speaks Korean."""
    return str(exc).split(" / ")[0]


def _read_text(path: Path) -> str:
    try:
        return " ".join(path.read_text(encoding="utf-8-sig").split())
    except (OSError, UnicodeDecodeError):
        return ""


def _speech_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    start, end = speech_bounds(samples, rate)
    return soxr.resample(samples[start:end], rate, STT_RATE).astype(np.float32)


def _backup_names(folder: Path) -> list[str]:
    """Oldest first: by time, then by the -2, -3 … of saves within one second."""
    def order(name: str) -> tuple[str, int]:
        stamp, _, n = name.partition("-")[2].partition("-")
        return name[:8] + stamp, int(n or 1)

    return sorted((p.stem for p in folder.glob("*.wav") if BACKUP_NAME.match(p.stem)), key=order)


def _unique_stamp(folder: Path) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (folder / f"{name}.wav").exists():
        n += 1
        name = f"{stamp}-{n}"
    return name
