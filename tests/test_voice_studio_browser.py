"""The voice studio (`/voice`) in real Chromium against the real daemon, with Chromium's fake
microphone playing a WAV of espeak-ng speech (`--use-file-for-fake-audio-capture`): record → the
transcript comes from the STT peer → 미리 듣기 through the TTS peer → 저장 → the saved file holds
the same sound as the input (cross-correlation) and the next sentence the daemon speaks carries it,
without a restart. A silent and a clipped microphone get their warnings; every upload format is
read; a hostile file name or body is shown as text."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from browser_helpers import LAUNCH_ARGS, require_browser
from daemon import run_daemon, wait_until
from peers.speech_server import HF_MODEL_ID, SpeechServer
from peers.transcription_server import Transcribe, TranscriptionServer
from system_deps import CHROMIUM
from test_browser import context  # noqa: F401 - fixture
from voice_fixtures.speech import require_espeak
from voice_fixtures.studio import MIC_RATE, SCRIPT, best_match, encode, espeak_clip

require_browser()
require_espeak()

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
OLD_TEXT = "예전 목소리입니다."
FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One daemon for the module: remote TTS sending the clone reference, STT on its peer."""
    work = tmp_path_factory.mktemp("voice-studio")
    voice = work / "voice"
    voice.mkdir()
    sf.write(voice / "ref.wav", espeak_clip(OLD_TEXT), MIC_RATE, subtype="PCM_16")
    (voice / "ref_text.txt").write_text(OLD_TEXT + "\n", encoding="utf-8")
    with SpeechServer(dialect="vllm-omni", ms_per_char=5) as tts, \
            TranscriptionServer(default=Transcribe(SCRIPT)) as stt:
        env = {"TTS_ENGINE": "remote", "TTS_REMOTE_URL": tts.base_url,
               "TTS_REMOTE_MODEL": HF_MODEL_ID, "TTS_REMOTE_SEND_REFERENCE": "true",
               "AUDIO_OUTPUT_DEVICE": f"file:{work / 'out.wav'}",
               "VOICE_SAMPLE": str(voice / "ref.wav"), "VOICE_SAMPLE_TEXT": str(voice / "ref_text.txt"),
               "STT_API_KEY": "gsk_studio", "STT_BASE_URL": stt.base_url}
        with run_daemon(work, **env) as daemon:
            wait_until(lambda: all(c["state"] == "running" for c in
                                   httpx.get(f"{daemon.url}/api/state").json()["components"]
                                   if c["name"] in ("tts", "audio")), what="tts and audio")
            yield {"daemon": daemon, "tts": tts, "stt": stt, "voice": voice, "work": work}


def microphone(browser: Any, wav: Path) -> Any:
    """A Chromium whose only microphone plays `wav` once from the moment it is opened (launched
    by the module browser's Playwright: one driver per thread)."""
    return browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True,
                              args=[*LAUNCH_ARGS, *FAKE_MIC,
                                    f"--use-file-for-fake-audio-capture={wav}%noloop"])


METER = """() => {
  window.__meter = {max: 0, hot: false};
  const bar = document.getElementById('meter-bar');
  new MutationObserver(() => {
    window.__meter.max = Math.max(window.__meter.max, parseFloat(bar.style.width) || 0);
    window.__meter.hot ||= bar.classList.contains('hot');
  }).observe(bar, {attributes: true});
}"""


def record(page: Any, seconds: float) -> dict[str, Any]:
    """Record for `seconds`; what the live meter showed meanwhile (highest %, ever red)."""
    page.evaluate(METER)
    page.click("#record")
    page.wait_for_function(f"parseFloat(document.getElementById('timer').textContent) >= {seconds}",
                           timeout=int(seconds * 1000) + 15_000)
    page.click("#record")
    return page.evaluate("window.__meter")


def sent_reference(request_body: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(the clip the TTS server was sent, the microphone's speech at that clip's rate)."""
    head, _, data = request_body["ref_audio"].partition(",")
    assert head == "data:audio/wav;base64"
    samples, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="float32")
    return samples, espeak_clip(rate=rate)


def matches(recorded: np.ndarray, reference: np.ndarray) -> float:
    return best_match(recorded, reference)[0]


def test_record_preview_and_save_from_the_microphone(studio: dict[str, Any], tmp_path: Path,
                                                     browser: Any) -> None:
    daemon, tts, voice = studio["daemon"], studio["tts"], studio["voice"]
    clip = espeak_clip()
    mic = tmp_path / "speech.wav"
    sf.write(mic, clip, MIC_RATE, subtype="PCM_16")
    old_wav = (voice / "ref.wav").read_bytes()
    with_mic = microphone(browser, mic)
    try:
        page = with_mic.new_page()
        page.goto(f"{daemon.url}/voice")
        page.wait_for_function(f"document.getElementById('current-text').textContent === {OLD_TEXT!r}")
        page.wait_for_selector("#script:not(:empty)")  # a sentence to read aloud
        assert "너무 짧아요" in page.locator("#current-advice li[data-code='too_short']").inner_text()
        meter = record(page, clip.size / MIC_RATE + 0.8)
        assert 30 < meter["max"] < 98 and not meter["hot"]  # the live meter moved with the voice
        page.wait_for_selector("#advice li.good")  # clean speech: nothing to warn about
        page.wait_for_function(f"document.getElementById('transcript').value === {SCRIPT!r}")
        stats = page.locator("#stats").inner_text()
        assert "쓰일 길이" in stats and ("48000 Hz" in stats or "44100 Hz" in stats)  # the page's rate

        page.click("#preview")
        page.wait_for_selector("#preview-audio:not([hidden])")
        preview = tts.speech_requests[-1].body
        assert preview["ref_text"] == SCRIPT and preview["input"].startswith("안녕하세요!")
        assert matches(*sent_reference(preview)) > 0.95

        page.click("#save")
        page.wait_for_selector("#result[data-applied='true']")
        assert "다시 시작할 필요 없음" in page.locator("#result").inner_text()
        page.wait_for_function(f"document.getElementById('current-text').textContent === {SCRIPT!r}")
        assert page.locator("#backups li[data-name]").count() == 1
        assert page.locator("#current-advice li").count() == 0  # the new sample is clean
    finally:
        with_mic.close()
    saved, rate = sf.read(voice / "ref.wav", dtype="float32")
    ncc = matches(saved, espeak_clip(rate=rate))
    assert ncc > 0.95, ncc  # the microphone's sound, saved at the page's rate
    assert (voice / "ref_text.txt").read_text(encoding="utf-8") == SCRIPT + "\n"
    backups = list((voice / "backup").glob("*.wav"))
    assert len(backups) == 1 and backups[0].read_bytes() == old_wav
    # the recording went to the STT peer as 16 kHz speech
    upload = sf.read(io.BytesIO(studio["stt"].requests[-1].data), dtype="float32")[0]
    assert matches(upload, espeak_clip(rate=16_000)) > 0.9

    # The running daemon speaks with it now: no restart (same process), the next request has it.
    pid = daemon.proc.pid
    result = httpx.post(f"{daemon.url}/api/settings/test", json={"what": "speak"}, timeout=20).json()
    assert result["level"] == "ok", result
    spoken = tts.speech_requests[-1].body
    assert spoken["ref_text"] == SCRIPT and matches(*sent_reference(spoken)) > 0.95
    assert daemon.proc.pid == pid and daemon.proc.poll() is None


@pytest.mark.parametrize(("name", "make", "code"), [
    ("silent", lambda clip: np.zeros(MIC_RATE * 4, np.float32), "silent"),
    ("clipped", lambda clip: np.clip(clip * 8, -1.0, 1.0), "clipped"),
])
def test_a_silent_or_clipped_microphone_is_told_in_korean(studio: dict[str, Any], tmp_path: Path,
                                                           browser: Any, name: str, make: Any,
                                                           code: str) -> None:
    mic = tmp_path / f"{name}.wav"
    sf.write(mic, make(espeak_clip()), MIC_RATE, subtype="PCM_16")
    before = (studio["voice"] / "ref.wav").read_bytes()
    with_mic = microphone(browser, mic)
    try:
        page = with_mic.new_page()
        page.goto(f"{studio['daemon'].url}/voice")
        page.wait_for_selector("#script:not(:empty)")
        meter = record(page, 3.5)
        assert meter == ({"max": 0, "hot": False} if code == "silent" else {"max": 100, "hot": True})
        item = page.wait_for_selector(f"#advice li[data-code='{code}']")
        text = item.inner_text()
        assert ("소리가 거의 없어요" if code == "silent" else "찢어졌어요") in text
        if code == "silent":  # nothing to save: the next steps stay hidden
            assert page.locator("#keep").is_hidden() and page.locator("#words").is_hidden()
        else:  # usable, with a warning: the streamer decides
            assert page.locator("#keep").is_visible()
    finally:
        with_mic.close()
    assert (studio["voice"] / "ref.wav").read_bytes() == before  # nothing saved by itself


@pytest.mark.parametrize(("fmt", "mime"), [("wav", "audio/wav"), ("mp3", "audio/mpeg"),
                                           ("ogg", "audio/ogg"), ("flac", "audio/flac"),
                                           ("m4a", "audio/mp4")])
def test_every_upload_format_is_read(studio: dict[str, Any], context: Any,  # noqa: F811
                                     fmt: str, mime: str) -> None:
    clip = espeak_clip()
    page = context.new_page()
    page.goto(f"{studio['daemon'].url}/voice")
    page.wait_for_selector("#script:not(:empty)")
    page.set_input_files("#file", files=[{"name": f"내 목소리.{fmt}", "mimeType": mime,
                                          "buffer": encode(clip, MIC_RATE, fmt)}])
    page.wait_for_selector("#advice li.good")
    used = float(page.locator("#stats span").first.inner_text().split()[2].removesuffix("초"))
    loud = np.flatnonzero(np.abs(clip) > 0.01)
    assert abs(used - (loud[-1] - loud[0]) / MIC_RATE) < 0.25  # the speech, found in the file
    assert page.locator("#keep").is_visible()
    page.close()


def test_a_long_upload_is_cut_in_the_page(studio: dict[str, Any], context: Any) -> None:  # noqa: F811
    clip = espeak_clip()
    gap = np.zeros(MIC_RATE // 2, np.float32)
    long = np.concatenate([clip, gap, clip, gap, clip])
    page = context.new_page()
    page.goto(f"{studio['daemon'].url}/voice")
    page.wait_for_selector("#script:not(:empty)")
    page.set_input_files("#file", files=[{"name": "길게.mp3", "mimeType": "audio/mpeg",
                                          "buffer": encode(long, MIC_RATE, "mp3")}])
    page.wait_for_selector("#advice li[data-code='too_long']")
    page.wait_for_function(f"document.getElementById('transcript').value === {SCRIPT!r}")
    page.fill("#transcript", "손으로 고친 대본")
    page.fill("#cut-start", "0")
    page.fill("#cut-end", f"{clip.size / MIC_RATE + 0.2:.1f}")
    whole = page.eval_on_selector("#draft-audio", "a => a.src")
    page.click("#cut-apply")
    page.wait_for_selector("#advice li.good")
    assert page.input_value("#transcript") == "손으로 고친 대본"  # the streamer's words are kept
    page.wait_for_function(f"document.getElementById('draft-audio').src !== {whole!r}")
    duration = page.evaluate("""() => new Promise(ok => { const a = document.getElementById('draft-audio');
        a.readyState >= 1 ? ok(a.duration) : a.addEventListener('loadedmetadata', () => ok(a.duration)); })""")
    assert abs(duration - (clip.size / MIC_RATE + 0.2)) < 0.1  # the player has the cut, not the file
    used = float(page.locator("#stats span").first.inner_text().split()[2].removesuffix("초"))
    assert used < clip.size / MIC_RATE + 0.3
    page.close()


def test_a_hostile_upload_is_refused_as_text(studio: dict[str, Any],
                                             context: Any) -> None:  # noqa: F811
    page = context.new_page()
    page.goto(f"{studio['daemon'].url}/voice")
    page.wait_for_selector("#script:not(:empty)")
    page.set_input_files("#file", files=[{"name": "<img src=x onerror=alert(1)>.wav",
                                          "mimeType": "audio/wav",
                                          "buffer": b"<script>window.pwned=1</script>" * 40}])
    error = page.wait_for_selector("#advice li.error")
    assert "읽을 수 없습니다" in error.inner_text()
    assert page.evaluate("window.pwned === undefined && !document.querySelector('#advice img')")
    assert page.locator("#keep").is_hidden()
    page.close()


def test_studio_screenshot(studio: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    """docs/screenshots/voice-studio.png with AISCHOCO_UPDATE_SCREENSHOTS=1 (else a temp file)."""
    shots = DOCS_SCREENSHOTS if os.environ.get("AISCHOCO_UPDATE_SCREENSHOTS") == "1" else tmp_path
    ctx = browser.new_context(viewport={"width": 960, "height": 900}, locale="ko-KR")
    try:
        page = ctx.new_page()
        page.goto(f"{studio['daemon'].url}/voice")
        page.wait_for_selector("#script:not(:empty)")
        page.set_input_files("#file", files=[{"name": "voice.wav", "mimeType": "audio/wav",
                                              "buffer": encode(espeak_clip(), MIC_RATE, "wav")}])
        page.wait_for_function(f"document.getElementById('transcript').value === {SCRIPT!r}")
        shots.mkdir(parents=True, exist_ok=True)
        path = shots / "voice-studio.png"
        page.screenshot(path=str(path), full_page=True)
    finally:
        ctx.close()
    assert path.stat().st_size > 10_000


def test_a_korean_panel_password_works_from_the_page(tmp_path: Path, context: Any) -> None:  # noqa: F811
    """PANEL_PASSWORD in 한글: the page percent-encodes it (a header cannot carry it raw)."""
    with run_daemon(tmp_path, PANEL_PASSWORD="초코 비번") as daemon:
        page = context.new_page()
        asked: list[str] = []

        def answer(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept("초코 비번")

        page.on("dialog", answer)
        page.goto(f"{daemon.url}/voice")
        page.wait_for_selector("#script:not(:empty)")
        page.set_input_files("#file", files=[{"name": "v.wav", "mimeType": "audio/wav",
                                              "buffer": encode(espeak_clip(), MIC_RATE, "wav")}])
        page.wait_for_selector("#advice li.good")
        assert asked == ["설정 페이지 비밀번호 (PANEL_PASSWORD)"]  # asked once, then kept
        assert httpx.get(f"{daemon.url}/api/voice").status_code == 401
        page.close()


def test_a_backup_comes_back_from_the_page(studio: dict[str, Any], context: Any) -> None:  # noqa: F811
    daemon, voice = studio["daemon"], studio["voice"]
    before_text = (voice / "ref_text.txt").read_text(encoding="utf-8").strip()
    before, rate = sf.read(voice / "ref.wav", dtype="float32")
    other = "되돌리기 시험 문장이에요."  # saved through the API: the sample in use becomes a backup
    draft = httpx.post(f"{daemon.url}/api/voice/clip",
                       content=encode(espeak_clip(other), MIC_RATE, "wav")).json()["draft"]
    assert httpx.post(f"{daemon.url}/api/voice/save",
                      json={"draft": draft, "text": other}).json()["saved"]
    page = context.new_page()
    page.goto(f"{daemon.url}/voice")
    page.wait_for_function(f"document.getElementById('current-text').textContent === {other!r}")
    page.locator("#backups li[data-name]").first.get_by_text("이걸로 되돌리기").click()
    page.wait_for_function(f"document.getElementById('transcript').value === {before_text!r}")
    page.wait_for_selector("#draft-audio[src^='blob:']")  # the backup, ready to listen to
    page.click("#save")
    page.wait_for_selector("#result[data-applied='true']")
    page.wait_for_function(f"document.getElementById('current-text').textContent === {before_text!r}")
    page.close()
    restored, restored_rate = sf.read(voice / "ref.wav", dtype="float32")
    assert restored_rate == rate and best_match(restored, before)[0] > 0.99
    assert (voice / "ref_text.txt").read_text(encoding="utf-8").strip() == before_text
