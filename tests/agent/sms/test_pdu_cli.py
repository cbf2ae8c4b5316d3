"""`smsprobe-agent pdu decode|encode` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from agent.cli import main
from agent.pdu_cli import pdu_group

HELLO = "07912143658709F1040B918100551512F2000011101021436500" + "0AE8329BFD4697D9EC37"
STATUS = "07914356060013F1065A098136397339F7219011700463802190117004638030"


def test_decode_json_one_object_per_pdu() -> None:
    result = CliRunner().invoke(pdu_group, ["decode", "--json", HELLO, STATUS])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert first == {
        "type": "deliver",
        "smsc": "+12345678901",
        "sender": "+18005551212",
        "text": "hellohello",
        "encoding": "gsm7",
        "class": None,
        "scts": "2011-01-01T12:34:56+00:00",
        "concat": None,
        "warnings": [],
    }
    assert second["type"] == "status-report"
    assert second["recipient"] == "639337937"
    assert (second["reference"], second["status"]) == (0x5A, 0x30)
    assert second["discharge_time"] == "2012-09-11T07:40:36+02:00"


def test_decode_reads_stdin_and_continues_after_a_bad_pdu() -> None:
    stdin = f"{HELLO}\n\n07911326\n{STATUS}\n"
    result = CliRunner().invoke(pdu_group, ["decode", "--json"], input=stdin)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["deliver", "status-report"]
    assert "PDU 2" in result.stderr and "at octet 0" in result.stderr


def test_decode_readable_block_and_no_sca() -> None:
    bare = HELLO[16:]
    result = CliRunner().invoke(pdu_group, ["decode", "--no-sca", bare])
    assert result.exit_code == 0, result.output
    assert "sender:    +18005551212 (TOA 0x91)" in result.output
    assert "text:      hellohello" in result.output
    assert "smsc:      -" in result.output


def test_decode_non_hex_says_which_octet() -> None:
    result = CliRunner().invoke(pdu_group, ["decode", "00zz"])
    assert result.exit_code == 1
    assert "'z' is not a hex digit at octet 1" in result.stderr


def test_encode_prints_one_hex_line_per_part_that_decodes_back() -> None:
    text = "【中国移动】" + "您的验证码是123456，" * 8
    result = CliRunner().invoke(
        pdu_group,
        [
            "encode",
            "--sender",
            "10086",
            "--text",
            text,
            "--scts",
            "2024-05-01T10:37:38+08:00",
            "--smsc",
            "+8613800250500",
            "--concat-ref",
            "9",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    decoded = CliRunner().invoke(pdu_group, ["decode", "--json", *lines])
    objs = [json.loads(line) for line in decoded.output.splitlines()]
    assert "".join(o["text"] for o in objs) == text
    assert [o["concat"] for o in objs] == [
        {"ref": 9, "total": 2, "seq": 1},
        {"ref": 9, "total": 2, "seq": 2},
    ]
    assert {o["scts"] for o in objs} == {"2024-05-01T10:37:38+08:00"}
    assert {o["smsc"] for o in objs} == {"+8613800250500"}


def test_encode_class_and_forced_ucs2() -> None:
    args = ["encode", "--sender", "+8613800138000", "--text", "hi", "--class", "0"]
    args += ["--encoding", "ucs2", "--scts", "2024-05-01T10:37:38-03:30"]
    result = CliRunner().invoke(pdu_group, args)
    assert result.exit_code == 0, result.output
    decoded = json.loads(
        CliRunner().invoke(pdu_group, ["decode", "--json", result.output.strip()]).output
    )
    assert (decoded["encoding"], decoded["class"]) == ("ucs2", 0)
    assert decoded["scts"] == "2024-05-01T10:37:38-03:30"


def test_encode_errors_are_reported_not_raised() -> None:
    bad_scts = CliRunner().invoke(
        pdu_group, ["encode", "--sender", "1", "--text", "x", "--scts", "2024-05-01T10:00:00"]
    )
    assert bad_scts.exit_code == 2 and "UTC offset" in bad_scts.stderr
    args = ["encode", "--sender", "1", "--text", "你", "--encoding", "gsm7"]
    not_gsm = CliRunner().invoke(pdu_group, [*args, "--scts", "2024-05-01T10:00:00Z"])
    assert not_gsm.exit_code == 1 and "GSM 7-bit" in not_gsm.stderr


def test_mounted_under_the_agent_cli() -> None:
    result = CliRunner().invoke(main, ["pdu", "decode", "--json", HELLO])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["text"] == "hellohello"


def test_decode_status_report_block_and_stored_submit() -> None:
    submit = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"  # oFono simple_submit
    result = CliRunner().invoke(pdu_group, ["decode", STATUS, submit])
    assert result.exit_code == 0, result.output
    assert "type:      status-report" in result.output
    assert "status:    0x30" in result.output
    assert "type:      submit" in result.output
    assert "recipient: +46708251358 (TOA 0x91)" in result.output
    as_json = CliRunner().invoke(pdu_group, ["decode", "--json", submit])
    obj = json.loads(as_json.output)
    assert (obj["type"], obj["text"], obj["reference"]) == ("submit", "hellohello", 0)


def test_decode_lenient_shows_truncated_prefix() -> None:
    truncated = HELLO[:-4]
    strict = CliRunner().invoke(pdu_group, ["decode", truncated])
    assert strict.exit_code == 1 and "TP-UDL 10 septets needs 9 octets, 7 present" in strict.stderr
    lenient = CliRunner().invoke(pdu_group, ["decode", "--lenient", truncated])
    assert lenient.exit_code == 0
    assert "text:      hellohel\n" in lenient.output  # 7 octets hold 8 whole septets
    assert "warnings:  truncated" in lenient.output
