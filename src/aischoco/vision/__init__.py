"""The character sees the stream: frames from OBS or the screen, described by a vision model."""
