"""The composition: builds every part from the settings and starts them (app.py shows the whole
pipeline on one screen; wiring.py and its neighbours build the parts it names)."""
