"""Where alert events go: one small module per channel behind the `Notifier` protocol
(base.py). Claims, retries and the ledger record are the dispatcher's (notify.py)."""
