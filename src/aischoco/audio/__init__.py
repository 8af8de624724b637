"""Audio out: the playback buffer, the players (sound device, WAV file) and device lookup.

    engine chunks ─► Segment.write (int16 → float32, resampled to the player rate) ─► PlaybackBuffer
    player thread (PortAudio callback or paced file writer) ─► read() ─► events: segment heard/ended

The playback clock is the player's own: every block carries the monotonic time it is heard (what
block taps such as lip-sync receive), and each segment's `started`/`ended` resolve at that time.
"""
