"""The streamer's voice as input: capture → 16 kHz mono → Silero VAD → utterances → speech to
text → a `streamer`/`voice` chat message at the top of the reply queue, plus barge-in."""
