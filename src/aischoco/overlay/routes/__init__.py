"""The panel's HTTP API, one router per concern; overlay/server.create_app puts them together."""
