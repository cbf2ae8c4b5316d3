"""The collector's own health as data: supervised units (supervise.py), their live state
and the vendors' not-measured spans (board.py), kept in the ledger (recorder.py) and shown
by `smsprobe-collector status` (status.py)."""
