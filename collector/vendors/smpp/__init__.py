"""SMPP 3.4 for smsprobe: a pure PDU codec, an asyncio ESME client, the `SmppVendor`
adapter, and an asyncio SMSC server for the vendor simulator and tests.

Public API (everything else is private to the modules):

- codec (`pdu`): `Pdu`, `CommandId`, `CommandStatus`, `Tlv`, `TlvTag`, `MessageState`,
  bodies `Bind`, `BindResp`, `ShortMessage`, `MessageIdResp`, `DataSm`, `Empty`,
  `encode`, `decode`, `SmppDecodeError`, `SmppEncodeError`
- receipts (`receipt`): `parse_receipt_text`, `build_receipt_text`,
  `receipt_from_deliver_sm`, `IdStyle` (submit and receipt ids are matched by
  `collector.correlation.match`)
- client (`client`): `SmppClient`, `SmppClientConfig`, `BindMode`, `ExponentialBackoff`
- errors (`errors`): `SmppError` and its tree, `classify_submit_status`
- adapter (`adapter`): `SmppVendor`, `SmppVendorConfig`, `PartialSubmitError`
- config: `[vendors.<name>] kind = "smpp"` tables are parsed by
  `collector.vendors.registry.parse_smpp_vendor`
- server (`server`): `SmppServer`, `SmppServerConfig`, `SubmitEvent`, `Misbehaviour`,
  `ReceiptForm`
"""

from collector.vendors.smpp.adapter import PartialSubmitError, SmppVendor, SmppVendorConfig
from collector.vendors.smpp.client import (
    BindMode,
    ExponentialBackoff,
    SmppClient,
    SmppClientConfig,
    SubmitResponse,
)
from collector.vendors.smpp.errors import SmppError
from collector.vendors.smpp.pdu import (
    CommandId,
    CommandStatus,
    Pdu,
    ShortMessage,
    SmppDecodeError,
    decode,
    encode,
)
from collector.vendors.smpp.receipt import (
    IdStyle,
    build_receipt_text,
    parse_receipt_text,
    receipt_from_deliver_sm,
)
from collector.vendors.smpp.server import (
    Misbehaviour,
    ReceiptForm,
    SmppServer,
    SmppServerConfig,
    SubmitEvent,
)

__all__ = [
    "BindMode",
    "CommandId",
    "CommandStatus",
    "ExponentialBackoff",
    "IdStyle",
    "Misbehaviour",
    "PartialSubmitError",
    "Pdu",
    "ReceiptForm",
    "ShortMessage",
    "SmppClient",
    "SmppClientConfig",
    "SmppDecodeError",
    "SmppError",
    "SmppServer",
    "SmppServerConfig",
    "SmppVendor",
    "SmppVendorConfig",
    "SubmitEvent",
    "SubmitResponse",
    "build_receipt_text",
    "decode",
    "encode",
    "parse_receipt_text",
    "receipt_from_deliver_sm",
]
