"""Real local network peers that tests (and daemon subprocesses under test) talk to."""
