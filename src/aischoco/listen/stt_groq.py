"""`STT_ENGINE=groq`: Whisper on Groq through the OpenAI-compatible transcription endpoint.

`POST {GROQ_BASE_URL}/audio/transcriptions`, multipart: the utterance as a 16 kHz 16-bit WAV
(small: 32 KB per second) plus model, language, temperature 0 and `verbose_json`, whose segments
carry `no_speech_prob` for the hallucination filter. Servers that answer plain `json` work too.
One pooled client; a connection error, timeout, 429 or 5xx is retried once, then the utterance is
dropped with a log line (the streamer can say it again).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import numpy as np

from ..ai.groq_wire import error_fields
from ..tts.pcm import wav_bytes
from .stt import SAMPLE_RATE, SttError, Transcript

log = logging.getLogger(__name__)

RETRY_DELAY_S = 0.3
KEEPALIVE_S = 4.0


def parse_transcription(body: Any) -> Transcript:
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise SttError("음성 인식 서버의 응답에 text가 없습니다 (transcription response has no text)")
    probs = [float(s["no_speech_prob"]) for s in body.get("segments") or ()
             if isinstance(s, dict) and isinstance(s.get("no_speech_prob"), int | float)]
    language = body.get("language") if isinstance(body.get("language"), str) else None
    return Transcript(body["text"].strip(), language, max(probs) if probs else None)


class GroqTranscriber:
    name = "groq"

    def __init__(self, *, api_key: str, base_url: str, model: str = "whisper-large-v3-turbo",
                 language: str = "ko", timeout_s: float = 10.0, prompt: str = "") -> None:
        self.model = model
        self.language = language
        self.prompt = prompt  # spelling hints (the AI's name, channel words)
        self._url = f"{base_url.rstrip('/')}/audio/transcriptions"
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            # < the 5 s keep-alive of uvicorn-based servers: never reuse one they just closed
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S))

    async def load(self) -> None:
        return None  # nothing to load; a dead server shows on the first utterance

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        if audio.size == 0:
            return Transcript("", self.language)
        data = {"model": self.model, "language": self.language, "temperature": "0",
                "response_format": "verbose_json"}
        if self.prompt:
            data["prompt"] = self.prompt
        wav = await asyncio.to_thread(wav_bytes, audio, SAMPLE_RATE)
        for attempt in (1, 2):
            try:
                response = await self._client.post(
                    self._url, data=data, files={"file": ("speech.wav", wav, "audio/wav")})
            except httpx.HTTPError as exc:
                problem = f"음성 인식 서버에 연결할 수 없습니다: {type(exc).__name__} ({self._url})"
            else:
                if response.status_code == 200:
                    try:
                        return parse_transcription(response.json())
                    except ValueError as exc:
                        raise SttError(f"음성 인식 응답이 JSON이 아닙니다: {exc}") from None
                message, _ = error_fields(response)
                problem = f"음성 인식 오류 HTTP {response.status_code}: {message[:200]}"
                if response.status_code not in (429,) and response.status_code < 500:
                    raise SttError(problem)  # a 4xx is not cured by asking again
            if attempt == 1:
                log.warning("%s; retrying once", problem)
                await asyncio.sleep(RETRY_DELAY_S)
        raise SttError(problem)

    async def aclose(self) -> None:
        await self._client.aclose()
