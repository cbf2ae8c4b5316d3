"""SMPP 3.4 PDU codec: pure bytes <-> frozen dataclasses, no I/O.

Over 500 lines on purpose: one codec for every PDU of SMPP 3.4 §4 and every TLV of §5.3,
table-driven; splitting it per PDU would scatter the shared field readers and writers.

Spec: SMPP v3.4 Issue 1.2 (smpp.org/SMPP_v3_4_Issue1_2.pdf). Section numbers below refer
to it. Every PDU is a 16-octet header (command_length, command_id, command_status,
sequence_number; all big-endian u32, §3.2) followed by a command-specific body of
mandatory fields and then optional TLVs (§3.2.4, §5.3).

Decoding is strict about framing (lengths, NUL terminators, maximum field sizes) and
lenient about content: unknown TLV tags (vendor range 0x1400-0x3FFF) and unknown
command_status values are kept, not rejected, because real SMSCs send both.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

HEADER_LEN = 16
# No maximum in the spec; a bound keeps a corrupt length field from making us buffer
# megabytes. 64 KiB TLV payload + mandatory fields fits comfortably.
MAX_PDU_LEN = 70_000
INTERFACE_VERSION_34 = 0x34
RESPONSE_BIT = 0x80000000
# §2.8 (3.4 Issue 1.2): sequence numbers range 0x00000001..0x7FFFFFFF.
MAX_SEQUENCE = 0x7FFFFFFF
MAX_SHORT_MESSAGE = 254  # §5.2.21: sm_length 0..254


class SmppDecodeError(ValueError):
    """Bytes that are not a valid SMPP PDU.

    `status` is the command_status a peer should answer with (in a generic_nack or the
    matching response); `sequence_number`/`command_id` are set when the header was readable.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0x00000002,  # ESME_RINVCMDLEN unless something more precise applies
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number


class SmppEncodeError(ValueError):
    """A PDU value that cannot be put on the wire (field too long, wrong body type)."""


class CommandId(enum.IntEnum):
    """§5.1.2.1 command_id values."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103

    @property
    def is_response(self) -> bool:
        return bool(self.value & RESPONSE_BIT)

    @property
    def response(self) -> CommandId:
        """The response id for a request id (§5.1.2.1: request id | 0x80000000)."""
        return CommandId(self.value | RESPONSE_BIT)


class CommandStatus(enum.IntEnum):
    """§5.1.3 command_status values that matter to us (plus 5.0 ones seen from mixed stacks).

    Unknown values stay plain ints on `Pdu.command_status`; use `status_name()` to print.
    """

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF
    # SMPP 5.0 §4.7.6; accepted from 3.4 peers, never sent by us.
    ESME_RSERTYPUNAUTH = 0x100
    ESME_RPROHIBITED = 0x101
    ESME_RSERTYPUNAVAIL = 0x102
    ESME_RSERTYPDENIED = 0x103
    ESME_RINVDCS = 0x104


def status_name(code: int) -> str:
    """`ESME_RTHROTTLED` for known codes, `0x00000458` for vendor ones."""
    try:
        return CommandStatus(code).name
    except ValueError:
        return f"0x{code:08X}"


class TlvTag(enum.IntEnum):
    """§5.3.2 optional parameter tags we read or write."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    SOURCE_NETWORK_TYPE = 0x000E
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(enum.IntEnum):
    """§5.2.28 message_state (TLV 0x0427 in receipts)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


# §5.2.12 esm_class bits.
ESM_CLASS_UDHI = 0x40
ESM_CLASS_TYPE_MASK = 0x3C
ESM_CLASS_DELIVERY_RECEIPT = 0x04
ESM_CLASS_INTERMEDIATE_NOTIFICATION = 0x20
# §5.2.17 registered_delivery: SMSC receipt on success or failure.
REGISTERED_DELIVERY_RECEIPT = 0x01
DATA_CODING_DEFAULT = 0x00
DATA_CODING_UCS2 = 0x08


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter, value kept as raw octets (§3.2.4.1)."""

    tag: int
    value: bytes

    @staticmethod
    def cstring(tag: int, text: str) -> Tlv:
        return Tlv(tag, text.encode("latin-1") + b"\x00")

    @staticmethod
    def u8(tag: int, value: int) -> Tlv:
        return Tlv(tag, struct.pack(">B", value))

    @staticmethod
    def u16(tag: int, value: int) -> Tlv:
        return Tlv(tag, struct.pack(">H", value))

    def as_cstring(self) -> str:
        # Tolerate a missing terminator: some SMSCs send receipted_message_id without it.
        return self.value.split(b"\x00", 1)[0].decode("latin-1")

    def as_int(self) -> int:
        if not 1 <= len(self.value) <= 4:
            raise SmppDecodeError(
                f"TLV 0x{self.tag:04X} has {len(self.value)} octets, not an integer",
                status=CommandStatus.ESME_RINVPARLEN,
            )
        return int.from_bytes(self.value, "big")


def find_tlv(tlvs: tuple[Tlv, ...], tag: int) -> Tlv | None:
    """The first TLV with `tag`, or None."""
    for tlv in tlvs:
        if tlv.tag == tag:
            return tlv
    return None


# --- bodies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Empty:
    """No body: enquire_link(_resp), unbind(_resp), generic_nack (§4.11, §4.2, §4.3)."""


@dataclass(frozen=True, slots=True)
class Bind:
    """bind_transmitter / bind_receiver / bind_transceiver (§4.1.1, §4.1.3, §4.1.5)."""

    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION_34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True)
class BindResp:
    """bind_*_resp (§4.1.2): system_id, optional sc_interface_version TLV.

    An error response may have no body at all; that decodes as system_id "".
    """

    system_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """submit_sm (§4.4.1) and deliver_sm (§4.6.1) share this layout."""

    source_addr: str = ""
    destination_addr: str = ""
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: tuple[Tlv, ...] = ()

    @property
    def is_receipt(self) -> bool:
        """§5.2.12: message type bits 0b0001xx00 = SMSC delivery receipt."""
        return self.esm_class & ESM_CLASS_TYPE_MASK in (
            ESM_CLASS_DELIVERY_RECEIPT,
            ESM_CLASS_INTERMEDIATE_NOTIFICATION,
        )

    def tlv(self, tag: int) -> Tlv | None:
        return find_tlv(self.tlvs, tag)


@dataclass(frozen=True, slots=True)
class MessageIdResp:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp (§4.4.2, §4.6.2, §4.7.2).

    `message_id` is None when the body is absent (allowed on errors, §4.4.2 note; some
    SMSCs also omit it on deliver_sm_resp).
    """

    message_id: str | None = None
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class DataSm:
    """data_sm (§4.7.1): addressing and flags only; the text travels in message_payload."""

    source_addr: str = ""
    destination_addr: str = ""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: tuple[Tlv, ...] = ()

    def tlv(self, tag: int) -> Tlv | None:
        return find_tlv(self.tlvs, tag)


Body = Empty | Bind | BindResp | ShortMessage | MessageIdResp | DataSm

_BIND_IDS = frozenset(
    {CommandId.BIND_RECEIVER, CommandId.BIND_TRANSMITTER, CommandId.BIND_TRANSCEIVER}
)
_BIND_RESP_IDS = frozenset(c.response for c in _BIND_IDS)
_SM_IDS = frozenset({CommandId.SUBMIT_SM, CommandId.DELIVER_SM})
_MSGID_RESP_IDS = frozenset(
    {CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM_RESP, CommandId.DATA_SM_RESP}
)
_EMPTY_IDS = frozenset(
    {
        CommandId.GENERIC_NACK,
        CommandId.UNBIND,
        CommandId.UNBIND_RESP,
        CommandId.ENQUIRE_LINK,
        CommandId.ENQUIRE_LINK_RESP,
    }
)


def body_type_for(command_id: CommandId) -> type[Body] | None:
    """The body class for a command id this codec supports, or None."""
    if command_id in _BIND_IDS:
        return Bind
    if command_id in _BIND_RESP_IDS:
        return BindResp
    if command_id in _SM_IDS:
        return ShortMessage
    if command_id in _MSGID_RESP_IDS:
        return MessageIdResp
    if command_id == CommandId.DATA_SM:
        return DataSm
    if command_id in _EMPTY_IDS:
        return Empty
    return None


@dataclass(frozen=True, slots=True)
class Pdu:
    command_id: CommandId
    sequence_number: int
    command_status: int = 0
    body: Body = field(default_factory=Empty)

    def response(self, status: int = 0, body: Body | None = None) -> Pdu:
        """The matching response: same sequence number (§2.8), id | 0x80000000."""
        resp_id = self.command_id.response
        if body is None:
            if resp_id in _BIND_RESP_IDS:
                body = BindResp()
            elif resp_id in _MSGID_RESP_IDS:
                body = MessageIdResp()
            else:
                body = Empty()
        return Pdu(resp_id, self.sequence_number, status, body)


# --- field limits (§4, "Size octets" columns; C-octet sizes include the NUL) --------------

_LIMITS = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "message_id": 65,
}
# data_sm addresses may be longer (§4.7.1: 65 octets).
_DATA_SM_ADDR_LIMIT = 65


# --- encoding -----------------------------------------------------------------------------


class _Writer:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u8(self, value: int) -> None:
        if not 0 <= value <= 0xFF:
            raise SmppEncodeError(f"u8 value {value} out of range")
        self.parts.append(bytes((value,)))

    def cstring(self, name: str, value: str, limit: int | None = None) -> None:
        max_octets = limit if limit is not None else _LIMITS[name]
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise SmppEncodeError(f"{name} must be latin-1/ASCII: {value!r}") from exc
        if b"\x00" in raw:
            raise SmppEncodeError(f"{name} contains NUL")
        if len(raw) + 1 > max_octets:
            raise SmppEncodeError(f"{name} is {len(raw)} octets, max {max_octets - 1}")
        self.parts.append(raw + b"\x00")

    def tlvs(self, tlvs: tuple[Tlv, ...]) -> None:
        for tlv in tlvs:
            if not 0 <= tlv.tag <= 0xFFFF or len(tlv.value) > 0xFFFF:
                raise SmppEncodeError(f"TLV 0x{tlv.tag:04X} does not fit its 2-octet fields")
            self.parts.append(struct.pack(">HH", tlv.tag, len(tlv.value)) + tlv.value)


def _encode_body(body: Body, w: _Writer) -> None:
    match body:
        case Empty():
            pass
        case Bind():
            w.cstring("system_id", body.system_id)
            w.cstring("password", body.password)
            w.cstring("system_type", body.system_type)
            w.u8(body.interface_version)
            w.u8(body.addr_ton)
            w.u8(body.addr_npi)
            w.cstring("address_range", body.address_range)
        case BindResp():
            w.cstring("system_id", body.system_id)
            w.tlvs(body.tlvs)
        case ShortMessage():
            if len(body.short_message) > MAX_SHORT_MESSAGE:
                raise SmppEncodeError(
                    f"short_message is {len(body.short_message)} octets, max 254;"
                    " use message_payload or split"
                )
            if body.short_message and find_tlv(body.tlvs, TlvTag.MESSAGE_PAYLOAD):
                # §5.3.2.32: message_payload only with sm_length 0.
                raise SmppEncodeError("short_message and message_payload are exclusive")
            w.cstring("service_type", body.service_type)
            w.u8(body.source_addr_ton)
            w.u8(body.source_addr_npi)
            w.cstring("source_addr", body.source_addr)
            w.u8(body.dest_addr_ton)
            w.u8(body.dest_addr_npi)
            w.cstring("destination_addr", body.destination_addr)
            w.u8(body.esm_class)
            w.u8(body.protocol_id)
            w.u8(body.priority_flag)
            w.cstring("schedule_delivery_time", body.schedule_delivery_time)
            w.cstring("validity_period", body.validity_period)
            w.u8(body.registered_delivery)
            w.u8(body.replace_if_present_flag)
            w.u8(body.data_coding)
            w.u8(body.sm_default_msg_id)
            w.u8(len(body.short_message))
            w.parts.append(body.short_message)
            w.tlvs(body.tlvs)
        case MessageIdResp():
            if body.message_id is not None:
                w.cstring("message_id", body.message_id)
            elif body.tlvs:
                raise SmppEncodeError("TLVs need a message_id field before them")
            w.tlvs(body.tlvs)
        case DataSm():
            w.cstring("service_type", body.service_type)
            w.u8(body.source_addr_ton)
            w.u8(body.source_addr_npi)
            w.cstring("source_addr", body.source_addr, _DATA_SM_ADDR_LIMIT)
            w.u8(body.dest_addr_ton)
            w.u8(body.dest_addr_npi)
            w.cstring("destination_addr", body.destination_addr, _DATA_SM_ADDR_LIMIT)
            w.u8(body.esm_class)
            w.u8(body.registered_delivery)
            w.u8(body.data_coding)
            w.tlvs(body.tlvs)


def encode(pdu: Pdu) -> bytes:
    """One PDU as wire octets, header included."""
    expected = body_type_for(pdu.command_id)
    if expected is None:
        raise SmppEncodeError(f"{pdu.command_id.name} is not supported by this codec")
    if not isinstance(pdu.body, expected):
        raise SmppEncodeError(
            f"{pdu.command_id.name} needs a {expected.__name__} body, got {type(pdu.body).__name__}"
        )
    if not 0 <= pdu.sequence_number <= 0xFFFFFFFF:
        raise SmppEncodeError(f"sequence_number {pdu.sequence_number} out of range")
    if not 0 <= pdu.command_status <= 0xFFFFFFFF:
        raise SmppEncodeError(f"command_status {pdu.command_status} out of range")
    w = _Writer()
    _encode_body(pdu.body, w)
    body = b"".join(w.parts)
    header = struct.pack(
        ">IIII",
        HEADER_LEN + len(body),
        pdu.command_id.value,
        pdu.command_status,
        pdu.sequence_number,
    )
    return header + body


# --- decoding -----------------------------------------------------------------------------


class _Reader:
    __slots__ = ("command_id", "data", "pos", "sequence_number")

    def __init__(self, data: bytes, command_id: int, sequence_number: int) -> None:
        self.data = data
        self.pos = 0
        self.command_id = command_id
        self.sequence_number = sequence_number

    def error(self, message: str, status: int) -> SmppDecodeError:
        return SmppDecodeError(
            message,
            status=status,
            command_id=self.command_id,
            sequence_number=self.sequence_number,
        )

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise self.error(f"body ends before {name}", CommandStatus.ESME_RINVCMDLEN)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def cstring(self, name: str, limit: int | None = None) -> str:
        max_octets = limit if limit is not None else _LIMITS[name]
        end = self.data.find(b"\x00", self.pos, self.pos + max_octets)
        if end < 0:
            if len(self.data) - self.pos < max_octets:
                raise self.error(
                    f"{name} has no NUL terminator before the body ends",
                    CommandStatus.ESME_RINVCMDLEN,
                )
            raise self.error(
                f"{name} longer than {max_octets - 1} octets", CommandStatus.ESME_RINVPARLEN
            )
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def octets(self, name: str, length: int) -> bytes:
        if self.remaining < length:
            raise self.error(
                f"{name} needs {length} octets, {self.remaining} left",
                CommandStatus.ESME_RINVMSGLEN,
            )
        value = self.data[self.pos : self.pos + length]
        self.pos += length
        return value

    def tlvs(self) -> tuple[Tlv, ...]:
        found: list[Tlv] = []
        while self.remaining:
            if self.remaining < 4:
                raise self.error(
                    f"{self.remaining} trailing octets are not a TLV",
                    CommandStatus.ESME_RINVOPTPARSTREAM,
                )
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            if self.remaining < length:
                raise self.error(
                    f"TLV 0x{tag:04X} claims {length} octets, {self.remaining} left",
                    CommandStatus.ESME_RINVPARLEN,
                )
            found.append(Tlv(tag, self.data[self.pos : self.pos + length]))
            self.pos += length
        return tuple(found)


def _decode_body(command_id: CommandId, r: _Reader) -> Body:
    kind = body_type_for(command_id)
    if kind is Empty:
        # Tolerate trailing junk on empty-body PDUs? No: the length would be wrong per §3.2.
        if r.remaining:
            raise r.error(
                f"{command_id.name} must have no body, got {r.remaining} octets",
                CommandStatus.ESME_RINVCMDLEN,
            )
        return Empty()
    if kind is Bind:
        return Bind(
            system_id=r.cstring("system_id"),
            password=r.cstring("password"),
            system_type=r.cstring("system_type"),
            interface_version=r.u8("interface_version"),
            addr_ton=r.u8("addr_ton"),
            addr_npi=r.u8("addr_npi"),
            address_range=r.cstring("address_range"),
        )
    if kind is BindResp:
        if not r.remaining:
            return BindResp()
        return BindResp(system_id=r.cstring("system_id"), tlvs=r.tlvs())
    if kind is ShortMessage:
        service_type = r.cstring("service_type")
        source_addr_ton = r.u8("source_addr_ton")
        source_addr_npi = r.u8("source_addr_npi")
        source_addr = r.cstring("source_addr")
        dest_addr_ton = r.u8("dest_addr_ton")
        dest_addr_npi = r.u8("dest_addr_npi")
        destination_addr = r.cstring("destination_addr")
        esm_class = r.u8("esm_class")
        protocol_id = r.u8("protocol_id")
        priority_flag = r.u8("priority_flag")
        schedule_delivery_time = r.cstring("schedule_delivery_time")
        validity_period = r.cstring("validity_period")
        registered_delivery = r.u8("registered_delivery")
        replace_if_present_flag = r.u8("replace_if_present_flag")
        data_coding = r.u8("data_coding")
        sm_default_msg_id = r.u8("sm_default_msg_id")
        sm_length = r.u8("sm_length")
        short_message = r.octets("short_message", sm_length)
        return ShortMessage(
            service_type=service_type,
            source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi,
            source_addr=source_addr,
            dest_addr_ton=dest_addr_ton,
            dest_addr_npi=dest_addr_npi,
            destination_addr=destination_addr,
            esm_class=esm_class,
            protocol_id=protocol_id,
            priority_flag=priority_flag,
            schedule_delivery_time=schedule_delivery_time,
            validity_period=validity_period,
            registered_delivery=registered_delivery,
            replace_if_present_flag=replace_if_present_flag,
            data_coding=data_coding,
            sm_default_msg_id=sm_default_msg_id,
            short_message=short_message,
            tlvs=r.tlvs(),
        )
    if kind is MessageIdResp:
        if not r.remaining:
            return MessageIdResp()
        return MessageIdResp(message_id=r.cstring("message_id"), tlvs=r.tlvs())
    # DataSm
    return DataSm(
        service_type=r.cstring("service_type"),
        source_addr_ton=r.u8("source_addr_ton"),
        source_addr_npi=r.u8("source_addr_npi"),
        source_addr=r.cstring("source_addr", _DATA_SM_ADDR_LIMIT),
        dest_addr_ton=r.u8("dest_addr_ton"),
        dest_addr_npi=r.u8("dest_addr_npi"),
        destination_addr=r.cstring("destination_addr", _DATA_SM_ADDR_LIMIT),
        esm_class=r.u8("esm_class"),
        registered_delivery=r.u8("registered_delivery"),
        data_coding=r.u8("data_coding"),
        tlvs=r.tlvs(),
    )


def command_length(header: bytes) -> int:
    """Validate the first 4 octets of a PDU and return the whole PDU's length.

    The framing layer reads exactly this many octets next; a bad length means the
    stream can no longer be trusted (§3.2: command_length includes the header).
    """
    if len(header) < 4:
        raise SmppDecodeError("need 4 octets for command_length")
    (length,) = struct.unpack_from(">I", header)
    if length < HEADER_LEN or length > MAX_PDU_LEN:
        raise SmppDecodeError(
            f"command_length {length} outside {HEADER_LEN}..{MAX_PDU_LEN}",
            status=CommandStatus.ESME_RINVCMDLEN,
        )
    return int(length)


def decode(data: bytes) -> Pdu:
    """Decode exactly one PDU; `data` must be the whole PDU and nothing more."""
    length = command_length(data)
    if length != len(data):
        raise SmppDecodeError(
            f"command_length {length} but {len(data)} octets given",
            status=CommandStatus.ESME_RINVCMDLEN,
        )
    raw_id, status, seq = struct.unpack_from(">III", data, 4)
    try:
        command_id = CommandId(raw_id)
    except ValueError:
        raise SmppDecodeError(
            f"unknown command_id 0x{raw_id:08X}",
            status=CommandStatus.ESME_RINVCMDID,
            command_id=raw_id,
            sequence_number=seq,
        ) from None
    if body_type_for(command_id) is None:
        raise SmppDecodeError(
            f"{command_id.name} is not supported by this codec",
            status=CommandStatus.ESME_RINVCMDID,
            command_id=raw_id,
            sequence_number=seq,
        )
    reader = _Reader(data[HEADER_LEN:], raw_id, seq)
    body = _decode_body(command_id, reader)
    if reader.remaining:
        raise reader.error(
            f"{reader.remaining} octets left after {command_id.name}",
            CommandStatus.ESME_RINVCMDLEN,
        )
    return Pdu(command_id, seq, status, body)
