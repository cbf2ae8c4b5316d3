"""Several collectors on one ledger: leases with fencing tokens in the ledger itself
(collector/ledger/sql/leases.py), kept by `LeaseKeeper`, and the leased units that do the
work that must happen once across the group (docs/scale-out.md)."""
