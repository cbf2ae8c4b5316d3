"""CMPP 2.0 and 3.0 (China Mobile Peer to Peer): the pure PDU codec (`pdu`) and how the
shared gateway session speaks it (`dialect`). docs/vendors.md, "CMPP"."""
