"""aischoco: an AI VTuber for Korean CHZZK live streaming."""

__version__ = "0.15.2"
