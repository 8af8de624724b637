"""The command line: `python -m aischoco <command>` (main.py), one module per command group,
the doctor's checks and the logging set-up."""
