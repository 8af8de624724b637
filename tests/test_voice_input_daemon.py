"""The daemon hearing the streamer: `VOICE_INPUT=file:` plays a recording of real Korean speech
(espeak-ng) as the microphone while the AI is speaking through a TTS peer into a WAV file.
The streamer's voice cuts the AI (barge-in), the history keeps only what was heard, the speech
goes through the transcription peer and becomes a voice turn of its own, answered next."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
import soundfile

from daemon import run_daemon, voice_env, wait_until
from peers.openai_server import Echo, OpenAIServer, Reply
from peers.speech_server import SpeechServer, speech_pcm
from peers.transcription_server import TranscriptionServer, Transcribe
from voice_fixtures.speech import mix, require_espeak, write_wav

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]
pytest.importorskip("onnxruntime")

SPOKEN = "초코야 잠깐만, 내 말 좀 들어 봐."


def _state(url: str) -> dict:
    return httpx.get(f"{url}/api/state", timeout=5).json()


def _components(url: str) -> dict[str, str]:
    return {c["name"]: c["state"] for c in _state(url)["components"]}


@pytest.mark.parametrize("turn_detection", ["silence", "smart"])
def test_the_streamer_cuts_in_and_is_answered_next(tmp_path: Path, turn_detection: str) -> None:
    require_espeak()
    mic = write_wav(tmp_path / "mic.wav", mix([3.0, SPOKEN, 2.0], noise_db=-50).audio)
    out = tmp_path / "ai.wav"
    first = "오늘 방송에서는 아주 재미있는 이야기를 천천히 길게 들려 드릴게요."
    answer = f"{first} 두 번째 문장은 들리지 않아요."
    with OpenAIServer(default=Echo()) as llm, SpeechServer(ms_per_char=150) as tts, \
            TranscriptionServer(default=Transcribe(SPOKEN.replace(",", ""), delay_ms=200)) as stt:
        llm.script([Reply({"response": answer, "emotion": "happy"})])
        env = voice_env(llm.base_url, tts.base_url, out, VOICE_INPUT=f"file:{mic}",
                        STT_BASE_URL=stt.base_url, VOICE_BARGE_IN="interrupt",
                        VOICE_TURN_DETECTION=turn_detection)
        with run_daemon(tmp_path, **env) as daemon:
            # The recording starts playing when the voice component runs: chat right then, so
            # the AI is mid-sentence when the streamer starts talking 3 s in.
            wait_until(lambda: all(_components(daemon.url)[n] == "running"
                                   for n in ("llm", "tts", "audio", "voice")),
                       what="voice input listening")
            httpx.post(f"{daemon.url}/api/chat", json={"user": "민수", "message": "이야기해 줘"})
            metrics = wait_until(
                lambda: (m := httpx.get(f"{daemon.url}/api/metrics").json())["outcomes"]
                .get("ok") and m, timeout=25, what="the voice turn answered")
            state = _state(daemon.url)
            time.sleep(0.2)
            code, _, log = daemon.stop(signal.SIGTERM)
            assert code == 0, log
    assert metrics["outcomes"] == {"skipped": 1, "ok": 1}, log
    latency = metrics["latency_ms"]
    assert latency["end_of_turn"]["count"] == 1
    if turn_detection == "silence" or state["voice"]["turn_detection"] == "silence":
        assert 550 <= latency["end_of_turn"]["last_ms"] <= 750  # VOICE_END_SILENCE_MS=600
    else:  # the model's verdict (~0.3 s) or, if it says "not yet", the 2 s cap
        assert 200 <= latency["end_of_turn"]["last_ms"] <= 2300
        assert state["voice"]["turn_checks"] >= 1
    assert latency["stt"]["last_ms"] >= 200  # the peer's delay
    assert latency["voice_to_voice"]["count"] == 1
    assert state["voice"]["interrupted"] == 1 and state["voice"]["turns"] == 1
    # The streamer's line on the overlay, as a voice line.
    voice_lines = [m for m in state["viewer_messages"] if m["kind"] == "voice"]
    assert [(m["role"], m["user"], m["message"]) for m in voice_lines] == [
        ("streamer", "방장", SPOKEN.replace(",", ""))]
    # One upload: the utterance only (≈ 2 s of speech plus pads), as a 16 kHz WAV.
    [upload] = stt.requests
    seconds = (len(upload.data) - 44) / 32000
    assert 1.0 < seconds < 4.0 and upload.fields["language"] == "ko"
    # The AI was cut inside its first sentence, the second was never heard, the answer to the
    # streamer was heard whole.
    requested = [r.body["input"] for r in tts.speech_requests]
    assert requested[:2] == [first, "두 번째 문장은 들리지 않아요."], requested
    echo = sum(len(speech_pcm(s, ms_per_char=150)) for s in requested[2:])
    data, _ = soundfile.read(out, dtype="int16")
    cut = data.size * 2 - echo
    assert echo > 0 and 0 < cut < len(speech_pcm(first, ms_per_char=150))
    # History: what was heard of the first answer (cut, "…"), then the voice turn and its answer.
    entries = json.loads((tmp_path / "history" / "recent.json").read_text("utf-8"))["entries"]
    assistant = [e["content"] for e in entries if e["role"] == "assistant"]
    assert assistant[0].endswith("…") and "두 번째" not in assistant[0]
    assert first.startswith(assistant[0].rstrip("…").strip()[:10])
    users = [e["content"] for e in entries if e["role"] == "user"]
    assert "[음성]" in users[-1] and "잠깐만" in users[-1]


UNFINISHED, REST = "그러니까 내 말은", "오늘은 일찍 끝내자는 거야."


@pytest.mark.parametrize("turn_detection", ["silence", "smart"])
def test_a_pause_inside_an_unfinished_sentence(tmp_path: Path, turn_detection: str) -> None:
    """"그러니까 내 말은 … (1 s) … 오늘은 일찍 끝내자는 거야." while the AI is quiet. `silence`
    (600 ms) takes the pause for the end and answers half a sentence, then the rest as a second
    turn; `smart` asks the model after 200 ms of silence, hears that the words are unfinished
    (this fragment: P(finished) 0.01, bench/README.md) and keeps listening: one turn, the whole
    sentence in one upload, taken by the model's "finished" after the last word."""
    require_espeak()
    if turn_detection == "smart":
        from aischoco.listen.turn_end import TurnEndUnavailable, packaged_model_path

        try:
            packaged_model_path()
        except TurnEndUnavailable as exc:
            pytest.skip(str(exc))
    mic = write_wav(tmp_path / "mic.wav", mix([1.5, UNFINISHED, 1.0, REST, 3.0], noise_db=-50).audio)
    out = tmp_path / "ai.wav"
    with OpenAIServer(default=Reply({"response": "응, 알겠어!", "emotion": "happy"})) as llm, \
            SpeechServer(ms_per_char=20) as tts, \
            TranscriptionServer(default=Transcribe("그러니까 내 말은 오늘은 일찍 끝내자는 거야",
                                                   delay_ms=100)) as stt:
        env = voice_env(llm.base_url, tts.base_url, out, VOICE_INPUT=f"file:{mic}",
                        STT_BASE_URL=stt.base_url, VOICE_TURN_DETECTION=turn_detection)
        with run_daemon(tmp_path, **env) as daemon:
            wait_until(lambda: _components(daemon.url)["voice"] == "running",
                       what="voice input listening")
            expected = 2 if turn_detection == "silence" else 1
            metrics = wait_until(
                lambda: (m := httpx.get(f"{daemon.url}/api/metrics").json())["outcomes"]
                .get("ok", 0) >= expected and m, timeout=25, what="the voice turns answered")
            wait_until(lambda: "파일 끝까지" in _state(daemon.url)["components"][
                [c["name"] for c in _state(daemon.url)["components"]].index("voice")]["detail"],
                timeout=15, what="the mic file to end")
            state = _state(daemon.url)
            code, _, log = daemon.stop(signal.SIGTERM)
            assert code == 0, log
    voice = state["voice"]
    assert voice["turn_detection"] == turn_detection
    eot = metrics["latency_ms"]["end_of_turn"]
    if turn_detection == "silence":
        assert voice["turns"] == 2 and len(stt.requests) == 2  # cut in after "내 말은"
        assert voice["turn_checks"] == 0
    else:
        assert voice["turns"] == 1 and len(stt.requests) == 1
        assert voice["turn_not_finished"] >= 1 and voice["turn_finished"] == 1
        # the model (~0.3 s of silence + its inference), not the 2 s cap
        assert eot["count"] == 1 and eot["last_ms"] < 1600
        # The upload holds both parts and the pause: ≈ 1 + 1 + 1.4 s of speech plus pads.
        seconds = (len(stt.requests[0].data) - 44) / 32000
        assert seconds > 3.0
    assert metrics["outcomes"] == {"ok": voice["turns"]}


def test_voice_input_without_stt_says_what_is_missing(tmp_path: Path) -> None:
    with run_daemon(tmp_path, VOICE_INPUT="default") as daemon:
        voice = next(c for c in _state(daemon.url)["components"] if c["name"] == "voice")
        code, _, log = daemon.stop(signal.SIGTERM)
    assert voice["state"] == "not_configured" and "STT" in voice["detail"]
    assert "GROQ_API_KEY" in voice["hint"]
    assert code == 0, log


def _rows(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        for name in ("음성 입력 (마이크)", "음성 감지 (VAD)", "음성 인식 (STT)"):
            if name in line:
                rows[name] = line
    return rows


def test_doctor_checks_the_microphone_vad_and_stt(tmp_path: Path) -> None:
    from test_cli import run_cli

    mic = write_wav(tmp_path / "mic.wav", mix([1.5], noise_db=-50).audio)
    with TranscriptionServer() as stt:
        good = _rows(run_cli("doctor", cwd=tmp_path, VOICE_INPUT=f"file:{mic}",
                             STT_API_KEY="gsk_stt_secret", STT_BASE_URL=stt.base_url).stdout)
        rejected = _rows(run_cli("doctor", cwd=tmp_path, VOICE_INPUT="no such microphone",
                                 STT_API_KEY="rejected", STT_BASE_URL=stt.base_url).stdout)
    assert good["음성 입력 (마이크)"].startswith("OK") and "1.5초" in good["음성 입력 (마이크)"]
    assert good["음성 감지 (VAD)"].startswith("OK")
    assert good["음성 인식 (STT)"].startswith("OK") and "whisper-large-v3-turbo" in good["음성 인식 (STT)"]
    assert "gsk_stt_secret" not in "".join(good.values())
    assert rejected["음성 입력 (마이크)"].startswith("FAIL")
    assert rejected["음성 인식 (STT)"].startswith("FAIL") and "거부" in rejected["음성 인식 (STT)"]


def test_the_settings_page_shows_the_microphone_level(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """The voice input's live level on /settings: loud while the words play, low in the silence
    after them."""
    from browser_helpers import require_browser

    require_browser()
    require_espeak()
    mic = write_wav(tmp_path / "mic.wav", mix([2.0, SPOKEN, 1.0, SPOKEN, 4.0], noise_db=-55).audio)
    (tmp_path / ".env").write_text("# mic\n", encoding="utf-8")
    with TranscriptionServer(default=Transcribe(SPOKEN)) as stt, \
            run_daemon(tmp_path, VOICE_INPUT=f"file:{mic}", STT_BASE_URL=stt.base_url,
                       GROQ_API_KEY="gsk_mic", GROQ_BASE_URL="http://127.0.0.1:9/v1") as daemon:
        wait_until(lambda: _components(daemon.url)["voice"] == "running", what="listening")
        page = browser.new_context(locale="ko-KR").new_page()
        page.goto(f"{daemon.url}/settings")
        page.click("#mic-meter-button")
        page.wait_for_function("Number(document.getElementById('mic-level').dataset.db) > -35",
                               timeout=15000)  # the words
        loud = page.evaluate("document.getElementById('mic-meter').value")
        assert loud > -35
        page.wait_for_function("Number(document.getElementById('mic-level').dataset.db) < -45",
                               timeout=15000)  # the -55 dB silence after them
        levels = [lvl for lvl in [_state(daemon.url)["voice"]["level_db"]] if lvl is not None]
        assert levels and all(-100 < lvl <= 0 for lvl in levels)
        daemon.stop(signal.SIGTERM)
