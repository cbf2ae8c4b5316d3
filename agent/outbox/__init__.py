"""The agent's durable outbox: the SQLite store, its writer thread, reassembly, the CLI."""
