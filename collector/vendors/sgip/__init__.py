"""SGIP 1.2 (China Unicom): the pure PDU codec (`pdu`), how the shared gateway session
speaks it (`dialect`), and the SP's report listener the SMG connects back to (`receiver`).
docs/vendors.md, "SGIP 1.2"."""
