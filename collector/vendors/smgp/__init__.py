"""SMGP 3.0 (China Telecom): the pure PDU codec (`pdu`) and how the shared gateway
session speaks it (`dialect`). docs/vendors.md, "SMGP 3.0"."""
