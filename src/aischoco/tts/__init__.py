"""Speech: TTS engines (local Qwen3-TTS, remote OpenAI-compatible speech servers) and the TTS server.

Engine contract (core.stages.SpeechEngine): ``synthesize(text)`` is an async generator of
``AudioChunk`` (signed 16-bit little-endian mono PCM with its sample rate) yielded as they are
produced. Closing the generator (``aclose()``, or cancelling the task iterating it) stops the work
behind it promptly: the local engine stops generating at its next step, the remote engine closes its
HTTP response. A sentence that fails raises ``StageError``; the next sentence is tried afresh.
"""
