"""What China's carrier gateway protocols share: CMPP 2.0/3.0 (China Mobile), SGIP 1.2
(China Unicom) and SMGP 3.0 (China Telecom) are all a fixed header (length, command id,
sequence) over TCP, request/response pairs matched by sequence, fixed-width NUL-padded
octet strings, an MD5 login and a UCS-2 long message split with a TP-UDHI header.

- `wire`: pure helpers (reader, fixed-width fields, authenticators, UDH split, receipts)
- `link`: one TCP connection: framing, pending requests, incoming requests, bad PDUs
- `session`: the client side: login, window, keep-alive, reconnect with back-off
- `adapter`: `GatewayVendor`, the collector's `SmsVendor` over any of the three
- `server`: a listening gateway for the vendor simulator and tests

Each protocol's own PDUs live in collector/vendors/{cmpp,sgip,smgp}/pdu.py (pure) and its
`Dialect` (how the shared session speaks it) in dialect.py. docs/vendors.md has a section
per protocol with the spec sections the code relies on.
"""
