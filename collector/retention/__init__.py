"""Retention and minimisation: texts, MSISDNs and raw bytes masked or purged after a
configured age, verdicts and hashes kept; agent samples trimmed (docs/retention.md)."""
