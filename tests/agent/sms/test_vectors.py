"""Published real-world PDUs (tests/agent/sms/data/pdu_vectors.json; each entry names its source
repository and file) decoded against the values their sources state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from agent.sms import (
    PduError,
    SmsDeliver,
    SmsStatusReport,
    decode_pdu,
    decode_submit,
    join_parts,
)
from tests.agent.sms.vectors import VECTORS


def _by_name(kind: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in VECTORS[kind]]


def _check_common(msg: Any, expect: dict[str, Any]) -> None:
    for key, value in expect.items():
        if key == "smsc":
            assert msg.smsc == value
        elif key in ("sender", "recipient"):
            assert getattr(msg, key).formatted == value
        elif key == "ton":
            address = msg.sender if isinstance(msg, SmsDeliver) else msg.recipient
            assert address.ton == value
        elif key == "npi":
            assert msg.sender.npi == value
        elif key in ("scts", "discharge_time"):
            got = getattr(msg, key)
            assert got == datetime.fromisoformat(value)
            assert got.utcoffset() == datetime.fromisoformat(value).utcoffset()
        elif key == "encoding":
            assert msg.encoding.value == value
        elif key == "class_":
            assert msg.message_class == value
        elif key == "concat":
            got = msg.concat
            assert (None if got is None else [got.ref, got.total, got.seq, got.ref_bits]) == value
        elif key == "user_data":
            assert msg.user_data.hex().upper() == value
        elif key == "reference":
            assert msg.message_reference == value
        else:
            assert getattr(msg, key) == value, key


@pytest.mark.parametrize("vector", _by_name("deliver"))
def test_deliver_vectors_decode_as_published(vector: dict[str, Any]) -> None:
    msg = decode_pdu(vector["hex"])
    assert isinstance(msg, SmsDeliver)
    _check_common(msg, vector["expect"])
    assert msg.warnings == ()


@pytest.mark.parametrize("vector", _by_name("deliver"))
def test_deliver_vectors_decode_without_sca_prefix(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    bare = raw[1 + raw[0] :]
    with_sca = decode_pdu(raw)
    without = decode_pdu(bare, has_sca=False)
    assert without.smsc is None
    assert without.text == with_sca.text
    assert without.sender == with_sca.sender  # type: ignore[union-attr]


@pytest.mark.parametrize("vector", _by_name("status_report"))
def test_status_report_vectors_decode_as_published(vector: dict[str, Any]) -> None:
    msg = decode_pdu(vector["hex"])
    assert isinstance(msg, SmsStatusReport)
    _check_common(msg, vector["expect"])


@pytest.mark.parametrize("vector", _by_name("submit"))
def test_submit_vectors_decode_as_published(vector: dict[str, Any]) -> None:
    _check_common(decode_submit(vector["hex"]), vector["expect"])


@pytest.mark.parametrize("vector", _by_name("submit"))
def test_decode_pdu_refuses_submit_with_a_pointer_to_decode_submit(vector: dict[str, Any]) -> None:
    with pytest.raises(PduError, match="decode_submit"):
        decode_pdu(vector["hex"])


@pytest.mark.parametrize("vector", _by_name("invalid"))
def test_invalid_vectors_raise_pdu_error_at_the_offending_octet(vector: dict[str, Any]) -> None:
    decode = decode_submit if vector.get("submit") else decode_pdu
    with pytest.raises(PduError) as info:
        decode(vector["hex"])
    assert info.value.offset == vector["offset"]
    assert info.value.hex == vector["hex"].upper()
    assert str(info.value).endswith(f"at octet {vector['offset']}")


def test_insufficient_data_decodes_readable_prefix_when_lenient() -> None:
    (vector,) = [v for v in VECTORS["invalid"] if v["name"] == "mm-insufficient-data"]
    msg = decode_pdu(vector["hex"], lenient=True)
    assert isinstance(msg, SmsDeliver)
    assert msg.text == "hellohello"
    assert "truncated" in msg.warnings


def test_published_multipart_parts_join_in_any_order() -> None:
    parts = [
        decode_pdu(v["hex"]) for v in VECTORS["deliver"] if v["name"].startswith("mm-multipart")
    ]
    assert all(isinstance(p, SmsDeliver) for p in parts)
    expected = (
        "This is a very long test designed to exercise multi part capability. It should "
        "show up as one message, not as two, as the underlying encoding represents "
        "that the parts are related to one another. "
    )
    assert join_parts(parts[::-1]) == expected  # type: ignore[arg-type]


def test_chinese_ucs2_parts_join_into_one_text() -> None:
    parts = [decode_pdu(v["hex"]) for v in VECTORS["deliver"] if "ref63" in v["name"]]
    text = join_parts(parts)  # type: ignore[arg-type]
    assert text.startswith("超长中文短信测试")
    assert text.endswith("你是谁我爱你啊真的假的逗你玩玩啦！")


def test_hex_input_is_case_insensitive_and_tolerates_whitespace() -> None:
    hexpdu = VECTORS["deliver"][2]["hex"]
    spaced = " ".join(hexpdu[i : i + 8] for i in range(0, len(hexpdu), 8)).lower() + "\r\n"
    assert decode_pdu(spaced) == decode_pdu(hexpdu) == decode_pdu(bytes.fromhex(hexpdu))
