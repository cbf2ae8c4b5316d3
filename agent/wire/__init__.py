"""The wire contract: every fact an agent uploads (records.py), its one conversion to and
from `smsprobe.v1` (serde.py), and record signing (signing.py). The collector imports this
package; it imports nothing of `agent` outside it (docs/architecture.md)."""
