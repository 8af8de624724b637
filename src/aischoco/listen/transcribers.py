"""The transcriber STT_ENGINE names, built from the settings (the microphone's listener and the
voice studio's transcript both use it)."""

from __future__ import annotations

from ..settings.model import Settings
from .stt import SpeechToText


def build_stt(settings: Settings) -> SpeechToText:
    """The transcriber STT_ENGINE names (listener_row has checked it is installed)."""
    if settings.stt_engine == "whisper":
        from .stt_whisper import WhisperTranscriber

        return WhisperTranscriber(settings.stt_model or "auto", device=settings.stt_device,
                                  compute_type=settings.stt_compute_type,
                                  language=settings.stt_language,
                                  download_root=settings.hf_home / "whisper")
    from .stt_groq import GroqTranscriber

    key = settings.stt_api_key or settings.groq_api_key
    assert key is not None
    return GroqTranscriber(api_key=key.get_secret_value(),
                           base_url=settings.stt_base_url or settings.groq_base_url,
                           model=settings.stt_model or "whisper-large-v3-turbo",
                           language=settings.stt_language, timeout_s=settings.stt_timeout_s,
                           prompt=settings.stt_prompt)
