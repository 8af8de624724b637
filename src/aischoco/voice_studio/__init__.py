"""The voice studio (/voice): record or upload a sample, check it, preview it, save it (studio.py),
and its HTTP routes (routes.py)."""
