"""The one typed settings object (model.py), the catalog the settings page shows (catalog.py),
and the .env editor that saves and live-applies them (editor.py, env_file.py)."""
