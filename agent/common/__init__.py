"""What both programs share and nothing of theirs: logging setup, the one back-off, the one
strict-TOML reader, the metrics HTTP server, time units. Imports nothing else of `agent`."""
