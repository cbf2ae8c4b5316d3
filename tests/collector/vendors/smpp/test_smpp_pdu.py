"""SMPP PDU codec: known byte vectors, round trips, malformed input, and smpplib as a
differential peer (an independent encoder/decoder).

Byte vectors are from twitter-archive/cloudhopper-smpp
src/test/java/com/cloudhopper/smpp/transcoder/PduDecoderTest.java (Apache-2.0), which
captured them from real SMSCs; field values are the ones that test asserts.
"""

from __future__ import annotations

import pytest
import smpplib.consts
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.vendors.smpp.pdu import (
    Bind,
    BindResp,
    CommandId,
    CommandStatus,
    DataSm,
    Empty,
    MessageIdResp,
    MessageState,
    Pdu,
    ShortMessage,
    SmppDecodeError,
    SmppEncodeError,
    Tlv,
    TlvTag,
    decode,
    encode,
    status_name,
)

# --- cloudhopper vectors ------------------------------------------------------------------

ENQUIRE_LINK = "0000001000000015000000000a342ee7"
SUBMIT_SM_RESP = "0000001c80000004000000000a342ee1393432353834333135393400"
SUBMIT_SM_RESP_NO_ID = "0000001080000004000000000a342ee1"
BIND_TRX = "00000023000000090000000000039951414c4c5f545700414c4c5f5457000034010200"
BIND_TRX_RESP_TLV = "0000001d800000090000000000039943536d7363204757000210000134"
BIND_TRX_RESP_FAILED = "00000015800000090000000e00004db3534d534300"
DELIVER_SM_RECEIPT = (
    "000000BA00000005000000000000000200010134343935313336313932300001013430343034000400"
    "000000000000006E69643A30303539313133393738207375623A30303120646C7672643A3030312073"
    "75626D697420646174653A3130303231303137333020646F6E6520646174653A313030323130313733"
    "3120737461743A44454C49565244206572723A30303020746578743A4024232125262F3A000E000101"
    "0006000101001E000833383630316661000427000102"
)


def test_enquire_link_vector() -> None:
    pdu = decode(bytes.fromhex(ENQUIRE_LINK))
    assert pdu == Pdu(CommandId.ENQUIRE_LINK, 171192039, 0, Empty())
    assert encode(pdu).hex() == ENQUIRE_LINK


def test_submit_sm_resp_vectors() -> None:
    pdu = decode(bytes.fromhex(SUBMIT_SM_RESP))
    assert pdu.command_id is CommandId.SUBMIT_SM_RESP
    assert pdu.sequence_number == 171192033
    assert pdu.body == MessageIdResp("94258431594")
    assert encode(pdu).hex() == SUBMIT_SM_RESP
    # SMPP 3.4 §4.4.2: the body may be absent (error responses, some SMSCs on success too).
    bare = decode(bytes.fromhex(SUBMIT_SM_RESP_NO_ID))
    assert bare.body == MessageIdResp(None)
    assert encode(bare).hex() == SUBMIT_SM_RESP_NO_ID


def test_bind_transceiver_vector() -> None:
    pdu = decode(bytes.fromhex(BIND_TRX))
    assert pdu.body == Bind("ALL_TW", "ALL_TW", "", 0x34, 1, 2, "")
    assert pdu.sequence_number == 235857
    assert encode(pdu).hex() == BIND_TRX


def test_bind_resp_vectors() -> None:
    ok = decode(bytes.fromhex(BIND_TRX_RESP_TLV))
    assert ok.body == BindResp("Smsc GW", (Tlv(TlvTag.SC_INTERFACE_VERSION, b"\x34"),))
    assert encode(ok).hex() == BIND_TRX_RESP_TLV
    failed = decode(bytes.fromhex(BIND_TRX_RESP_FAILED))
    assert failed.command_status == CommandStatus.ESME_RINVPASWD
    assert failed.body == BindResp("SMSC")


def test_deliver_sm_receipt_vector() -> None:
    pdu = decode(bytes.fromhex(DELIVER_SM_RECEIPT))
    sm = pdu.body
    assert isinstance(sm, ShortMessage)
    assert (sm.source_addr_ton, sm.source_addr_npi, sm.source_addr) == (1, 1, "44951361920")
    assert sm.destination_addr == "40404"
    assert sm.esm_class == 0x04 and sm.is_receipt
    assert sm.short_message.startswith(b"id:0059113978 sub:001")
    assert len(sm.short_message) == 110
    receipted = sm.tlv(TlvTag.RECEIPTED_MESSAGE_ID)
    assert receipted is not None and receipted.as_cstring() == "38601fa"
    state = sm.tlv(TlvTag.MESSAGE_STATE)
    assert state is not None and state.as_int() == MessageState.DELIVERED
    assert [t.tag for t in sm.tlvs] == [0x000E, 0x0006, 0x001E, 0x0427]
    assert encode(pdu).hex() == DELIVER_SM_RECEIPT.lower()


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hexdata", "status"),
    [
        # cloudhopper decodeUnsupportedRequestCommandId: command_id 0x00000110
        ("0000001000000110000000000a342ee7", CommandStatus.ESME_RINVCMDID),
        # cloudhopper decodeSignedIntLength: command_length 0xF0000011
        ("F000001100000110000000000a342ee7", CommandStatus.ESME_RINVCMDLEN),
        # cloudhopper decodeSubmitSmRespWithNoNullByteForMessageId
        ("0000001180000004000000000a342ee139", CommandStatus.ESME_RINVCMDLEN),
        # enquire_link with a stray body octet
        ("0000001100000015000000000a342ee700", CommandStatus.ESME_RINVCMDLEN),
        # TLV claiming more octets than remain
        ("0000001880000004000000000a342ee100001e0009616200", CommandStatus.ESME_RINVPARLEN),
    ],
)
def test_malformed_pdus_raise_with_a_status(hexdata: str, status: int) -> None:
    with pytest.raises(SmppDecodeError) as info:
        decode(bytes.fromhex(hexdata))
    assert info.value.status == status


def test_decode_error_keeps_the_sequence_number_for_a_generic_nack() -> None:
    with pytest.raises(SmppDecodeError) as info:
        decode(bytes.fromhex("0000001000000110000000000a342ee7"))
    assert info.value.sequence_number == 0x0A342EE7


def test_oversized_c_string_is_rejected_both_ways() -> None:
    with pytest.raises(SmppEncodeError, match="system_id"):
        encode(Pdu(CommandId.BIND_TRANSCEIVER, 1, 0, Bind("x" * 16)))
    body = b"x" * 20 + b"\x00"  # system_id max is 15 octets + NUL
    raw = (16 + len(body) + 11).to_bytes(4, "big") + bytes.fromhex("000000090000000000000001")
    with pytest.raises(SmppDecodeError, match="system_id"):
        decode(raw + body + b"\x00\x00\x34\x00\x00\x00" + b"\x00" * 5)


def test_short_message_limits() -> None:
    with pytest.raises(SmppEncodeError, match="254"):
        encode(Pdu(CommandId.SUBMIT_SM, 1, 0, ShortMessage(short_message=b"a" * 255)))
    both = ShortMessage(short_message=b"a", tlvs=(Tlv(TlvTag.MESSAGE_PAYLOAD, b"b"),))
    with pytest.raises(SmppEncodeError, match="exclusive"):
        encode(Pdu(CommandId.SUBMIT_SM, 1, 0, both))


def test_body_type_must_match_the_command() -> None:
    with pytest.raises(SmppEncodeError, match="ShortMessage"):
        encode(Pdu(CommandId.SUBMIT_SM, 1, 0, Empty()))


def test_status_names() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x40B) == "0x0000040B"
    assert CommandId.SUBMIT_SM.response is CommandId.SUBMIT_SM_RESP


def test_response_helper_keeps_the_sequence_number() -> None:
    req = Pdu(CommandId.SUBMIT_SM, 77, 0, ShortMessage())
    resp = req.response(CommandStatus.ESME_RTHROTTLED)
    assert (resp.command_id, resp.sequence_number, resp.command_status) == (
        CommandId.SUBMIT_SM_RESP,
        77,
        0x58,
    )


# --- round trips ----------------------------------------------------------------------------

_cstr = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=15)
_u8 = st.integers(0, 255)
_tlv = st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40))


@settings(max_examples=200, deadline=None)
@given(
    source=_cstr,
    dest=_cstr,
    sm=st.binary(max_size=254),
    esm=_u8,
    dcs=_u8,
    reg=_u8,
    svc=st.text(alphabet="ABCDEF", max_size=5),
    sched=st.sampled_from(["", "260101120000000+"]),
    tlvs=st.lists(_tlv.filter(lambda t: t.tag != TlvTag.MESSAGE_PAYLOAD), max_size=3),
    seq=st.integers(1, 0x7FFFFFFF),
    deliver=st.booleans(),
)
def test_short_message_round_trip(
    source: str,
    dest: str,
    sm: bytes,
    esm: int,
    dcs: int,
    reg: int,
    svc: str,
    sched: str,
    tlvs: list[Tlv],
    seq: int,
    deliver: bool,
) -> None:
    body = ShortMessage(
        source_addr=source,
        destination_addr=dest,
        short_message=sm,
        esm_class=esm,
        data_coding=dcs,
        registered_delivery=reg,
        service_type=svc,
        schedule_delivery_time=sched,
        tlvs=tuple(tlvs),
    )
    cid = CommandId.DELIVER_SM if deliver else CommandId.SUBMIT_SM
    pdu = Pdu(cid, seq, 0, body)
    assert decode(encode(pdu)) == pdu


@pytest.mark.parametrize(
    "pdu",
    [
        Pdu(CommandId.BIND_RECEIVER, 1, 0, Bind("sys", "pw", "VMA", 0x34, 1, 1, "^86")),
        Pdu(CommandId.BIND_TRANSMITTER_RESP, 2, 0x0D, BindResp("SMSC")),
        Pdu(CommandId.UNBIND, 3),
        Pdu(CommandId.UNBIND_RESP, 3),
        Pdu(CommandId.GENERIC_NACK, 4, CommandStatus.ESME_RINVCMDID),
        Pdu(CommandId.DELIVER_SM_RESP, 5, 0, MessageIdResp("")),
        Pdu(
            CommandId.DATA_SM,
            6,
            0,
            DataSm("106900", "8613800138000", tlvs=(Tlv(TlvTag.MESSAGE_PAYLOAD, b"x" * 400),)),
        ),
        Pdu(CommandId.DATA_SM_RESP, 6, 0, MessageIdResp("A1")),
    ],
)
def test_other_pdus_round_trip(pdu: Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_decoder_survives_random_bytes() -> None:
    # Fuzz lite (ModemManager habit): every input either decodes or raises SmppDecodeError.
    import random

    rng = random.Random(4)
    seed = bytes.fromhex(DELIVER_SM_RECEIPT)
    for _ in range(2000):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(4, len(data))] = rng.randrange(256)
        try:
            pdu = decode(bytes(data))
        except SmppDecodeError:
            continue
        assert decode(encode(pdu)) == pdu


# --- smpplib as an independent codec ------------------------------------------------------


class _SequenceSource:
    """smpplib's PDU classes take a "client" only to draw sequence numbers from."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def test_smpplib_submit_sm_decodes_with_our_codec() -> None:
    theirs = smpplib.smpp.make_pdu(
        "submit_sm",
        client=_SequenceSource(),
        source_addr_ton=5,
        source_addr="PROBE",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        esm_class=0x40,
        data_coding=8,
        registered_delivery=1,
        short_message=b"\x05\x00\x03\x2a\x02\x01" + "验证码".encode("utf-16-be"),
    )
    theirs.sequence = 9
    pdu = decode(theirs.generate())
    sm = pdu.body
    assert isinstance(sm, ShortMessage)
    assert pdu.sequence_number == 9
    assert (sm.source_addr_ton, sm.source_addr, sm.destination_addr) == (
        5,
        "PROBE",
        "8613800138000",
    )
    assert (sm.esm_class, sm.data_coding, sm.registered_delivery) == (0x40, 8, 1)
    assert sm.short_message[6:].decode("utf-16-be") == "验证码"


def test_our_deliver_sm_receipt_parses_with_smpplib() -> None:
    ours = encode(decode(bytes.fromhex(DELIVER_SM_RECEIPT)))
    theirs = smpplib.smpp.parse_pdu(ours, client=_SequenceSource(), allow_unknown_opt_params=True)
    assert theirs.command == "deliver_sm"
    assert theirs.receipted_message_id == b"38601fa"
    assert theirs.message_state == smpplib.consts.SMPP_MESSAGE_STATE_DELIVERED
    assert theirs.short_message.startswith(b"id:0059113978")


def test_our_bind_parses_with_smpplib() -> None:
    ours = encode(Pdu(CommandId.BIND_TRANSCEIVER, 12, 0, Bind("probe", "secret")))
    theirs = smpplib.smpp.parse_pdu(ours, client=_SequenceSource(), allow_unknown_opt_params=True)
    assert theirs.command == "bind_transceiver"
    assert (theirs.system_id, theirs.password, theirs.sequence) == (b"probe", b"secret", 12)
