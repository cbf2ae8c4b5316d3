"""Vendor config validation (one error per key path), registry, and the pure helpers."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError
from collector.vendors.base import (
    ContentProfile,
    DlrSource,
    DlrStatus,
    OutgoingSms,
    RawDlr,
    SmsVendor,
    VendorError,
    normalise_dlr_status,
    sms_parts,
)
from collector.vendors.config import ErrorClass, parse_http_vendor
from collector.vendors.http import (
    build_request,
    classify_submit_response,
    json_path_get,
    parse_vendor_time,
)
from collector.vendors.registry import build_vendors, parse_vendors
from tests.collector.vendors.helpers import http_vendor_config, http_vendor_table

EXAMPLE = Path(__file__).resolve().parents[3] / "collector" / "vendors" / "example_vendors.toml"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda t: t.update(colour="red"), "vendors.v.colour"),
        (lambda t: t["submit"].update(body="xml"), "vendors.v.submit.body"),
        (lambda t: t["submit"].update(message_id_path="data..id"),
         "vendors.v.submit.message_id_path"),
        (lambda t: t["submit"]["fields"].update(x="{nope}"), "vendors.v.submit.fields.x"),
        (lambda t: t["submit"]["fields"].update(x="{var.missing}"), "vendors.v.submit.fields.x"),
        (lambda t: t["submit"].pop("message_id_path"), "vendors.v.submit.message_id_path"),
        (lambda t: t["errors"].update({"9": "explode"}), "vendors.v.errors.9"),
        (lambda t: t.update(timeout_s=0), "vendors.v.timeout_s"),
        (lambda t: t.update(auth={"kind": "hmac_sha256"}), "vendors.v.auth.secret"),
        (lambda t: t["dlr"].update(status_map={"0": "GREAT"}), "vendors.v.dlr.status_map.0"),
        (lambda t: t.update(dlr_push={"format": "json", "extra": 1}), "vendors.v.dlr_push.extra"),
        (lambda t: t.pop("dlr") and t.update(dlr_push={}), "vendors.v.dlr"),
        (lambda t: t["submit"].update(method="GET", body="json"), "vendors.v.submit.body"),
        (lambda t: t.update(base_url=""), "vendors.v.submit.url"),
        (lambda t: t.update(auth={"kind": "aliyun_rpc", "key_id": "k", "secret": "s"})
         or t["submit"].update(body="json"), "vendors.v.submit.body"),
        (lambda t: t.update(auth={"kind": "aliyun_rpc", "secret": "s"}), "vendors.v.auth.key_id"),
        (lambda t: t.update(auth={"kind": "tencent_tc3", "key_id": "k", "secret": "s"})
         or t["submit"].update(body="form"), "vendors.v.submit.body"),
    ],
)  # fmt: skip
def test_invalid_http_vendor_tables_name_the_key_path(mutate: Any, path: str) -> None:
    table = http_vendor_table("http://127.0.0.1:1", push=False)
    mutate(table)
    with pytest.raises(ConfigError) as info:
        parse_vendors({"v": table})
    assert info.value.key_path == path


def test_example_config_is_valid_and_builds_adapters() -> None:
    section = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["vendors"]
    configs = parse_vendors(section)
    assert set(configs) == {"sim106", "simsmpp", "aliyun", "aliyun_v3", "tencent"}
    built = build_vendors(section)
    assert all(isinstance(v, SmsVendor) for v in built.vendors.values())
    # aliyun_v3 pulls its receipts (QuerySendDetails): no push endpoint
    assert sorted(e.name for e in built.push_endpoints) == ["aliyun", "sim106", "tencent"]


def test_registry_rejects_unknown_kinds_and_bad_names() -> None:
    with pytest.raises(ConfigError) as info:
        parse_vendors({"v": {"kind": "ucp"}})
    assert info.value.key_path == "vendors.v.kind"
    with pytest.raises(ConfigError) as info:
        parse_vendors({"Bad Name": {}})
    assert info.value.key_path == 'vendors."Bad Name"'
    with pytest.raises(ConfigError) as info:
        parse_vendors({"s": {"kind": "smpp", "host": "h", "port": 1, "system_id": "a",
                             "password": "b", "bind_mode": "sideways"}})  # fmt: skip
    assert info.value.key_path == "vendors.s.bind_mode"


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"system_id": "a-system-id-too-long"}, "vendors.s.system_id"),  # > 15 (SMPP 3.4 §4.1)
        ({"password": "123456789"}, "vendors.s.password"),  # > 8
        ({"long_messages": "carrier-pigeon"}, "vendors.s.long_messages"),
        ({"gsm7_wire": "squeezed"}, "vendors.s.gsm7_wire"),
    ],
)
def test_smpp_tables_name_the_bad_key(extra: dict[str, Any], path: str) -> None:
    table = {"kind": "smpp", "host": "h", "port": 1, "system_id": "a", "password": "b", **extra}
    with pytest.raises(ConfigError) as info:
        parse_vendors({"s": table})
    assert info.value.key_path == path


def test_smpp_long_message_modes_parse() -> None:
    from collector.vendors.smpp.adapter import SmppVendorConfig
    from collector.vendors.smpp.segment import Gsm7Wire, LongMessages

    table = {"kind": "smpp", "host": "h", "port": 1, "system_id": "probe", "password": "12345678",
             "long_messages": "sar", "gsm7_wire": "packed", "bind_timeout_s": 3}  # fmt: skip
    config = parse_vendors({"s": table})["s"]
    assert isinstance(config, SmppVendorConfig)
    assert config.long_messages is LongMessages.SAR and config.gsm7_wire is Gsm7Wire.PACKED
    assert config.bind_timeout_s == 3.0


def test_json_paths() -> None:
    doc = {"data": {"msgid": "7"}, "result": [{"sid": "SM1"}, {"sid": "SM2"}]}
    assert json_path_get(doc, "data.msgid") == "7"
    assert json_path_get(doc, "result[1].sid") == "SM2"
    assert json_path_get(doc, "result[5].sid") is not None  # MISSING sentinel, not an error
    assert json_path_get(doc, "result[5].sid") != "SM2"
    assert json_path_get([[1, 2]], "[0][1]") == 2


def test_form_request_with_basic_auth_is_rendered_and_redacted() -> None:
    table = http_vendor_table("http://vendor.example")
    table["submit"]["body"] = "form"
    table["auth"] = {"kind": "basic", "username": "u", "password": "p4ss"}
    table["submit"]["headers"] = {"X-Api-Key": "{var.account}"}
    table["redact_fields"] = ["password", "x-api-key"]
    config = parse_http_vendor("v", table)
    req = build_request(
        config.submit.request,
        base_url=config.base_url,
        auth=config.auth,
        ctx={"var.account": "acc", "var.password": "pw", "to": "13800138000", "text": "你好"},
        objects={"params": {"code": "1234"}},
        redact=config.redact_fields,
        now_s=1,
    )
    assert req.url == "http://vendor.example/sms/send"
    assert b"mobile=13800138000" in req.body and b"password=pw" in req.body
    assert b"password=pw" not in req.evidence and b"password=%2A%2A%2A" in req.evidence
    assert req.headers["Authorization"].startswith("Basic ")
    assert b"Authorization: ***" in req.evidence
    assert req.headers["X-Api-Key"] == "acc" and b"X-Api-Key: ***" in req.evidence
    assert b"params=%7B%22code%22%3A%221234%22%7D" in req.body  # JSON string in a form field


def _classify(status: int, body: bytes, retry_after: str | None = None) -> Any:
    config = http_vendor_config("v", "http://x")
    return classify_submit_response(
        config,
        status=status,
        body=body,
        retry_after_header=retry_after,
        raw_request=b"REQ",
        accepted_at_ns=5,
        signed_text="【探针】你好",
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "attr"),
    [
        (429, b"", "Throttled", ("retry_after_s", 7.0)),
        (401, b"", "AuthFailed", ("http_status", 401)),
        (503, b"busy", "Transient", ("http_status", 503)),
        (500, b"oops", "AmbiguousSubmit", ("http_status", 500)),
        (504, b"", "AmbiguousSubmit", ("http_status", 504)),
        (200, b"<xml/>", "AmbiguousSubmit", ("raw_response", b"<xml/>")),
        (200, b'{"code":"0","data":{}}', "AmbiguousSubmit", ("code", "")),
        (200, b'{"code":"104","error":"tpl"}', "Rejected", ("code", "104")),
        (200, b'{"code":"999"}', "Rejected", ("code", "999")),
        (400, b'{"code":"105"}', "Rejected", ("code", "105")),
    ],
)
def test_response_classification(
    status: int, body: bytes, error: str, attr: tuple[str, Any]
) -> None:
    with pytest.raises(VendorError) as info:
        _classify(status, body, retry_after="7")
    assert info.value.kind == error  # what the ledger records as the error kind
    assert getattr(info.value, attr[0]) == attr[1]
    assert info.value.raw_request == b"REQ"


def test_successful_classification_single_id_and_per_part_id_list() -> None:
    result = _classify(200, b'{"code":"0","data":{"msgid":"M1","fee":2}}')
    assert (result.message_ids, result.parts, result.accepted_at_ns) == (("M1",), 2, 5)
    # A Vonage-like answer: one id per part, no part count field.
    table = http_vendor_table("http://x")
    table["submit"]["message_id_path"] = "messages"
    del table["submit"]["parts_path"]
    config = parse_http_vendor("v", table)
    per_part = classify_submit_response(
        config,
        status=200,
        body=b'{"code":"0","messages":["a1","a2","a3"]}',
        retry_after_header=None,
        raw_request=b"",
        accepted_at_ns=1,
        signed_text="x",
    )
    assert per_part.message_ids == ("a1", "a2", "a3") and per_part.parts == 3


def test_error_class_reject_reasons() -> None:
    assert ErrorClass.REJECTED_TEMPLATE.reject_reason is not None
    assert ErrorClass.THROTTLED.reject_reason is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("DELIVRD", DlrStatus.DELIVRD),
        ("delivered", DlrStatus.DELIVRD),
        ("SUCCESS", DlrStatus.DELIVRD),
        ("UNDELIV", DlrStatus.UNDELIV),
        ("FAIL", DlrStatus.UNDELIV),
        ("EXPIRED", DlrStatus.EXPIRED),
        ("REJECTD", DlrStatus.REJECTD),
        ("ENROUTE", DlrStatus.ENROUTE),
        ("MK:0005", DlrStatus.UNDELIV),
        ("DB:0008", DlrStatus.UNDELIV),
        ("CJ:0007", DlrStatus.REJECTD),
        ("HD:29", DlrStatus.REJECTD),
        ("what", DlrStatus.UNKNOWN),
    ],
)
def test_dlr_status_normalisation(raw: str, status: DlrStatus) -> None:
    assert normalise_dlr_status(raw) is status


def test_intermediate_states_are_not_final() -> None:
    assert not DlrStatus.ENROUTE.is_final and not DlrStatus.ACCEPTD.is_final
    assert DlrStatus.DELIVRD.is_final and DlrStatus.UNKNOWN.is_final


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("{" * 80, 1),  # extension chars count twice: 160 septets
        ("{" * 81, 2),
        ("【探针】" + "字" * 66, 1),  # 70 with the signature
        ("【探针】" + "字" * 67, 2),  # 71 -> 67 per part
        ("字" * 134, 2),
        ("字" * 135, 3),
        ("😀" * 35, 1),  # surrogate pairs are two UCS2 units each
        ("😀" * 36, 2),
    ],
)
def test_sms_parts_follow_the_70_67_rule(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


def test_outgoing_sms_is_frozen_and_signs_text() -> None:
    params = {"code": "1"}
    sms = OutgoingSms("p", "138", "您好", "探针", "T1", params, ContentProfile.VERIFICATION_CODE)
    params["code"] = "2"
    assert sms.params["code"] == "1"
    assert sms.signed_text == "【探针】您好"
    with pytest.raises(TypeError):
        sms.params["code"] = "3"  # type: ignore[index]


def test_dedupe_key_ignores_receive_time_but_not_status() -> None:
    def dlr(status: str, received: int) -> RawDlr:
        return RawDlr("v", "1", normalise_dlr_status(status), status, "", 10, received, b"",
                      DlrSource.PUSH)  # fmt: skip

    assert dlr("DELIVRD", 1).dedupe_key == dlr("DELIVRD", 2).dedupe_key
    assert dlr("DELIVRD", 1).dedupe_key != dlr("UNDELIV", 1).dedupe_key


def test_vendor_time_formats() -> None:
    assert parse_vendor_time("261124100003", _fmt("yymmddhhmmss"), 8) == 1795485603 * 10**9
    assert parse_vendor_time("2611241000", _fmt("yymmddhhmm"), 8) == 1795485600 * 10**9
    assert parse_vendor_time("1795485603", _fmt("unix_s"), 8) == 1795485603 * 10**9
    assert parse_vendor_time("1795485603000", _fmt("unix_ms"), 0) == 1795485603 * 10**9
    assert parse_vendor_time("2026-11-24T02:00:03Z", _fmt("iso8601"), 8) == 1795485603 * 10**9
    assert parse_vendor_time("garbage", _fmt("yymmddhhmmss"), 8) is None


def _fmt(name: str) -> Any:
    from collector.vendors.config import TimeFormat

    return TimeFormat(name)


def test_vendor_config_errors_are_config_errors_naming_the_file() -> None:
    from agent.common.tomlconfig import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_vendors({"v": {"kind": "http", "bogus": 1}}, file="collector.toml")
    assert str(info.value) == "collector.toml: vendors.v.submit: expected a table, got nothing"


def test_the_demo_alibaba_vendor_is_the_shipped_example() -> None:
    """The demo runs `acme` through the example's Alibaba table: only address, keys and
    template codes differ."""
    from collector.demo.configs import aliyun_vendor_toml

    demo = tomllib.loads(aliyun_vendor_toml("acme", 1))["vendors"]["acme"]
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["vendors"]["aliyun"]
    for key in ("submit", "errors", "dlr"):
        assert demo[key] == example[key], key
    # the push is the example's, taken from the simulator's loopback source only
    assert demo["dlr_push"].pop("allow_from") == ["127.0.0.1/32", "::1/128"]
    example["dlr_push"].pop("allow_from")
    assert demo["dlr_push"] == example["dlr_push"]
    assert demo["auth"]["kind"] == example["auth"]["kind"] == "aliyun_rpc"
    assert set(demo["templates"]) >= {"verification_code", "notification"}
