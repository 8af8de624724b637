"""Audio out: the playback buffer, the players (sound device, WAV file), device lookup and the clock.

    engine chunks ─► Segment.write (int16 → float32, resampled to the player rate) ─► PlaybackBuffer
    player thread (PortAudio callback or paced file writer) ─► read() ─► events: segment heard/ended
"""
