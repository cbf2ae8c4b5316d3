"""No record an agent can write is too large to upload: the largest possible received SMS
(255 parts, each the longest PDU the AT reader accepts, signed) fits an agent's default
batch, which fits the smallest message limit the collector's config allows. A record over
the limit could never be acked and would hold every record behind it."""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives.asymmetric import ec

from agent.modem.lines import DEFAULT_MAX_LINE
from agent.uplink.client import UploadSettings
from agent.wire.records import ClockEstimate, ReceivedSms, Record, SmsPart
from agent.wire.serde import record_to_wire
from agent.wire.signing import RecordSigner
from collector.config import MIN_MESSAGE_BYTES

MAX_PARTS = 255  # TP-UDH concatenation: one octet of total parts


def test_the_largest_possible_record_fits_the_smallest_allowed_message() -> None:
    longest_pdu = b"\xff" * (DEFAULT_MAX_LINE // 2)  # a hex line of DEFAULT_MAX_LINE chars
    parts = tuple(
        SmsPart(
            uuid=str(uuid.uuid4()),
            raw_pdu=longest_pdu,
            storage="ME",
            index=65535,
            received_at_ns=2**62,
            scts_ns=2**62,
            scts_tz_minutes=-720,
            part_seq=i + 1,
        )
        for i in range(MAX_PARTS)
    )
    body = ReceivedSms(
        parts=parts,
        smsc="+8613800000000" * 2,
        sender="1069" * 5,
        text="验" * (MAX_PARTS * 153),  # more characters than 255 parts can carry, 3 B each
        encoding="ucs2",
        concat_ref=65535,
        concat_total=MAX_PARTS,
        user_data=b"\xff" * (MAX_PARTS * 140),
    )
    record = Record(
        uuid=str(uuid.uuid4()),
        seq=2**62,
        persisted_at_ns=2**62,
        clock=ClockEstimate(offset_ms=1e9, uncertainty_ms=1e9, measured_at_ns=2**62),
        body=body,
        modem_imei="8" * 15,
        iccid="8" * 20,
    )
    signer = RecordSigner(ec.generate_private_key(ec.SECP384R1()))
    size = len(signer.sign(record_to_wire(record).wire))
    assert size > MAX_PARTS * len(longest_pdu)  # the bound is built from real bytes
    assert size < UploadSettings().batch_max_bytes < MIN_MESSAGE_BYTES
