"""Test fixtures for the local TTS engine (tiny random Qwen3-TTS checkpoint, synthetic voice)."""
