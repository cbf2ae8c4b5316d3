"""The operators' audit log: who did what, when, with what arguments (docs/retention.md)."""
