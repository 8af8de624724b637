"""The Groq transcription client against a real local server speaking the OpenAI contract, and
the rules that drop hallucinated transcripts."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from aischoco.listen.stt import SttError, Transcript
from aischoco.listen.stt_groq import GroqTranscriber, parse_transcription
from aischoco.listen.transcript_filter import TranscriptRules, screen
from peers.transcription_server import Fail, TranscriptionServer, Transcribe

RATE = 16_000


def tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.fixture
def peer():
    with TranscriptionServer() as server:
        yield server


def transcriber(server: TranscriptionServer, **kw) -> GroqTranscriber:
    return GroqTranscriber(api_key="gsk_test_secret", base_url=server.base_url, **kw)


async def test_multipart_upload_carries_wav_model_language_and_key(peer):
    peer.script([Transcribe("초코야 오늘 뭐 먹을까?", no_speech_prob=0.02)])
    stt = transcriber(peer)
    audio = tone(1.5)
    try:
        result = await stt.transcribe(audio)
    finally:
        await stt.aclose()
    assert result == Transcript("초코야 오늘 뭐 먹을까?", "korean", 0.02)
    [upload] = peer.requests
    assert upload.fields == {"model": "whisper-large-v3-turbo", "language": "ko",
                             "temperature": "0", "response_format": "verbose_json"}
    assert upload.headers["authorization"] == "Bearer gsk_test_secret"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert (upload.filename, upload.content_type) == ("speech.wav", "audio/wav")
    sent, rate = soundfile.read(io.BytesIO(upload.data), dtype="float32")
    assert rate == RATE and sent.shape == audio.shape
    assert np.max(np.abs(sent - audio)) < 1e-4  # 16-bit WAV of exactly the utterance


async def test_prompt_and_model_are_sent_when_set(peer):
    stt = transcriber(peer, model="whisper-large-v3", prompt="초코, 치지직")
    try:
        await stt.transcribe(tone(0.2))
    finally:
        await stt.aclose()
    assert peer.requests[0].fields["prompt"] == "초코, 치지직"
    assert peer.requests[0].fields["model"] == "whisper-large-v3"


async def test_server_error_is_retried_once_then_succeeds(peer):
    peer.script([Fail(503, "overloaded"), Transcribe("두 번째")])
    stt = transcriber(peer)
    try:
        assert (await stt.transcribe(tone(0.2))).text == "두 번째"
    finally:
        await stt.aclose()
    assert len(peer.requests) == 2


async def test_client_error_is_not_retried_and_names_the_status(peer):
    peer.script([Fail(400, "language 'xx' is not supported")])
    stt = transcriber(peer)
    try:
        with pytest.raises(SttError, match="HTTP 400.*not supported"):
            await stt.transcribe(tone(0.2))
    finally:
        await stt.aclose()
    assert len(peer.requests) == 1


async def test_dead_server_gives_a_clear_error_without_the_key():
    from daemon import free_port

    stt = GroqTranscriber(api_key="gsk_test_secret", base_url=f"http://127.0.0.1:{free_port()}/v1",
                          timeout_s=1.0)
    try:
        with pytest.raises(SttError) as info:
            await stt.transcribe(tone(0.2))
    finally:
        await stt.aclose()
    assert "연결할 수 없습니다" in str(info.value) and "gsk_test_secret" not in str(info.value)


async def test_empty_audio_never_reaches_the_server(peer):
    stt = transcriber(peer)
    try:
        assert (await stt.transcribe(np.zeros(0, np.float32))).text == ""
    finally:
        await stt.aclose()
    assert peer.requests == []


def test_plain_json_answers_are_understood():
    assert parse_transcription({"text": " 안녕 "}) == Transcript("안녕", None, None)
    with pytest.raises(SttError):
        parse_transcription({"segments": []})


@pytest.mark.parametrize("text, reason", [
    ("", "empty"), ("  ...  ", "empty"), ("♪♪", "empty"),
    ("감사합니다.", "silence_phrase"), ("시청해 주셔서 감사합니다!", "silence_phrase"),
    ("구독과 좋아요 부탁드립니다", "silence_phrase"), ("Thank you.", "silence_phrase"),
    ("MBC 뉴스 김지훈입니다.", "subtitle_credit"), ("한글자막 by 한효정", "subtitle_credit"),
    ("자막 제공: 배달의민족", "subtitle_credit"),
    ("네네네네네네네네", "repetition"), ("오 오 오 오 오 오", "repetition"),
])
def test_hallucinations_on_silence_are_dropped(text, reason):
    assert screen(Transcript(text)) == ("", reason)


@pytest.mark.parametrize("text", ["초코야 오늘 뭐 먹을까?", "감사합니다 초코야, 오늘 재밌었어",
                                  "좋아 좋아", "MBC 드라마 봤어?", "네 맞아요"])
def test_real_speech_is_kept(text):
    assert screen(Transcript(text)) == (text, "")


def test_no_speech_probability_and_length_rules():
    assert screen(Transcript("안녕", no_speech_prob=0.9)) == ("", "no_speech")
    assert screen(Transcript("안녕", no_speech_prob=0.2)) == ("안녕", "")
    long = "가" * 30 + " " + "나다라" * 300
    text, reason = screen(Transcript(long), TranscriptRules(max_chars=100))
    assert reason == "" and len(text) == 100 and text.endswith("…")
