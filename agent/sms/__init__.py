"""Pure TS 23.040 / 23.038 SMS codec (stdlib only).

Public API: decode received PDUs (:func:`decode_pdu`, :func:`decode_submit`); encode
SMS-DELIVER, SMS-SUBMIT and SMS-STATUS-REPORT (:func:`encode_deliver`, :func:`encode_submit`,
:func:`encode_status_report`); split long text (:func:`split_text`) and join concatenated
parts (:func:`join_parts`). Every decoding failure is a :class:`PduError` (a ValueError with
`hex`, `offset`, `reason`); what decoding tolerates is named in each result's `warnings`
(:data:`WARNINGS`); encoding failures are :class:`EncodeError` (also a ValueError).
"""

from agent.sms.concat import Concat, join_parts, split_text
from agent.sms.dcs import Encoding
from agent.sms.errors import EncodeError, PduError
from agent.sms.semioctet import Address
from agent.sms.tolerated import WARNINGS
from agent.sms.tpdu import (
    EncodedPdu,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

__all__ = [
    "WARNINGS",
    "Address",
    "Concat",
    "EncodeError",
    "EncodedPdu",
    "Encoding",
    "PduError",
    "SmsDeliver",
    "SmsStatusReport",
    "SmsSubmit",
    "decode_pdu",
    "decode_submit",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "join_parts",
    "split_text",
]
