"""Voice-clone reference preparation: errors, downmix, trimming, length warnings, tail padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from aischoco.tts.voice_sample import GUIDE, VoiceSampleError, load_reference, trim_silence

RATE = 24_000


def tone(seconds: float, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # 200 Hz: whole periods per 10 ms


def write(tmp_path: Path, samples: np.ndarray, rate: int = RATE, text: str = "안녕하세요, 초코예요.",
          subtype: str = "FLOAT") -> tuple[Path, Path]:
    wav, txt = tmp_path / "ref.wav", tmp_path / "ref_text.txt"
    sf.write(wav, samples, rate, subtype=subtype)
    txt.write_text(text, encoding="utf-8")
    return wav, txt


def assert_guiding(message: str, path: Path) -> None:
    assert str(path) in message
    assert GUIDE in message
    korean, english = message.split(" / ", 1)
    assert "녹음" in korean and "ref_text.txt" in korean
    assert "Record 3-10 s" in english


def test_missing_wav_names_the_file_and_says_how_to_record(tmp_path: Path) -> None:
    txt = tmp_path / "ref_text.txt"
    txt.write_text("안녕", encoding="utf-8")
    with pytest.raises(VoiceSampleError) as info:
        load_reference(tmp_path / "ref.wav", txt)
    assert_guiding(str(info.value), tmp_path / "ref.wav")
    assert "파일이 없습니다" in str(info.value)


def test_unreadable_wav(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, tone(4))
    wav.write_bytes(b"RIFF\x00\x00not really a wave file" * 10)
    with pytest.raises(VoiceSampleError) as info:
        load_reference(wav, txt)
    assert_guiding(str(info.value), wav)
    assert "읽을 수 없는" in str(info.value)


def test_empty_wav(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, np.zeros(0, dtype=np.float32))
    with pytest.raises(VoiceSampleError, match="비어 있습니다"):
        load_reference(wav, txt)


def test_silent_wav(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, np.full(RATE * 4, 1e-5, dtype=np.float32))
    with pytest.raises(VoiceSampleError, match="무음"):
        load_reference(wav, txt)


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_empty_transcript(tmp_path: Path, text: str) -> None:
    wav, txt = write(tmp_path, tone(4), text=text)
    with pytest.raises(VoiceSampleError) as info:
        load_reference(wav, txt)
    assert_guiding(str(info.value), txt)
    assert "대본이 비어 있습니다" in str(info.value)


def test_missing_transcript(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, tone(4))
    txt.unlink()
    with pytest.raises(VoiceSampleError, match="대본 파일이 없습니다"):
        load_reference(wav, txt)


def test_transcript_whitespace_and_bom(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, tone(4))
    txt.write_bytes("\ufeff안녕하세요,\n 초코예요!  \n".encode("utf-8"))
    assert load_reference(wav, txt).text == "안녕하세요, 초코예요!"


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = tone(4)
    right = -0.5 * left + 0.1
    wav, txt = write(tmp_path, np.stack([left, right], axis=1))
    ref = load_reference(wav, txt)
    assert ref.samples.ndim == 1 and ref.samples.dtype == np.float32
    # nothing to trim (speech from the first to the last frame), then 0.5 s of silence
    assert ref.samples.size == left.size + RATE // 2
    np.testing.assert_allclose(ref.samples[:left.size], (left + right) / 2, atol=1e-6)


def test_leading_and_trailing_silence_trimmed_with_margin(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).standard_normal
    lead = (1e-4 * noise(12_000)).astype(np.float32)  # 0.5 s hiss below -60 dBFS
    speech = tone(4.0)  # 96 000 samples, starts exactly on a 10 ms frame boundary
    tail = (1e-4 * noise(24_000)).astype(np.float32)
    wav, txt = write(tmp_path, np.concatenate([lead, speech, tail]))
    ref = load_reference(wav, txt)
    margin = 1_200  # 50 ms
    trimmed = 96_000 + 2 * margin
    assert ref.speech_s == pytest.approx(trimmed / RATE)
    assert ref.samples.size == trimmed + 12_000
    np.testing.assert_array_equal(ref.samples[margin:margin + 96_000], speech)
    assert not np.any(ref.samples[trimmed:])  # appended silence
    assert ref.warnings == []


def test_trim_silence_all_quiet_gives_empty() -> None:
    assert trim_silence(np.zeros(4800, dtype=np.float32), RATE).size == 0
    assert trim_silence(np.zeros(0, dtype=np.float32), RATE).size == 0


@pytest.mark.parametrize(("seconds", "expected"), [(2.0, "짧습니다"), (5.0, None), (11.0, "깁니다")])
def test_length_outside_3_to_10_s_is_a_warning(tmp_path: Path, seconds: float,
                                                expected: str | None) -> None:
    wav, txt = write(tmp_path, tone(seconds))
    ref = load_reference(wav, txt)
    assert ref.speech_s == pytest.approx(seconds)
    if expected is None:
        assert ref.warnings == []
    else:
        assert len(ref.warnings) == 1
        assert expected in ref.warnings[0] and str(wav) in ref.warnings[0]
        assert " / " in ref.warnings[0]  # Korean, then English


def test_padding_follows_the_file_rate_and_low_rate_warns(tmp_path: Path) -> None:
    rate = 16_000
    wav, txt = write(tmp_path, tone(4.0, rate), rate=rate, subtype="PCM_16")
    ref = load_reference(wav, txt)
    assert ref.sample_rate == rate
    assert ref.samples.size == 4 * rate + rate // 2
    assert not np.any(ref.samples[-rate // 2:])
    assert ref.duration_s == pytest.approx(4.5)
    assert any("16000 Hz" in warning for warning in ref.warnings)


def test_clipped_recording_warns_and_is_limited_to_full_scale(tmp_path: Path) -> None:
    wav, txt = write(tmp_path, tone(4.0, amplitude=1.4))
    ref = load_reference(wav, txt)
    assert any("클리핑" in warning for warning in ref.warnings)
    assert float(np.max(np.abs(ref.samples))) <= 1.0
