"""`smsprobe-agent pdu`: decode and encode SMS PDUs by hand (tools for people)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click

from agent.sms import (
    EncodeError,
    Encoding,
    PduError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    decode_pdu,
    decode_submit,
    encode_deliver,
)

__all__ = ["pdu_group", "to_json_dict"]


Decoded = SmsDeliver | SmsStatusReport | SmsSubmit


def _concat_json(msg: SmsDeliver | SmsSubmit) -> dict[str, int] | None:
    concat = msg.concat
    return None if concat is None else {"ref": concat.ref, "total": concat.total, "seq": concat.seq}


def to_json_dict(msg: Decoded) -> dict[str, Any]:
    """The `pdu decode --json` object for one decoded PDU; `warnings` names everything the
    decoder tolerated, exactly as the text form's `warnings:` line does."""
    return {**_json_fields(msg), "warnings": list(msg.warnings)}


def _json_fields(msg: Decoded) -> dict[str, Any]:
    if isinstance(msg, SmsSubmit):
        return {
            "type": "submit",
            "smsc": msg.smsc,
            "recipient": msg.recipient.formatted,
            "text": msg.text,
            "encoding": msg.encoding.value,
            "class": msg.message_class,
            "scts": None,
            "concat": _concat_json(msg),
            "reference": msg.message_reference,
        }
    if isinstance(msg, SmsStatusReport):
        return {
            "type": "status-report",
            "smsc": msg.smsc,
            "recipient": msg.recipient.formatted,
            "text": msg.text,
            "encoding": None,
            "class": None,
            "scts": msg.scts.isoformat(),
            "concat": None,
            "reference": msg.message_reference,
            "status": msg.status,
            "discharge_time": msg.discharge_time.isoformat(),
        }
    return {
        "type": "deliver",
        "smsc": msg.smsc,
        "sender": msg.sender.formatted,
        "text": msg.text,
        "encoding": msg.encoding.value,
        "class": msg.message_class,
        "scts": msg.scts.isoformat(),
        "concat": _concat_json(msg),
    }


def _concat_text(msg: SmsDeliver | SmsSubmit) -> str:
    concat = msg.concat
    if concat is None:
        return "-"
    return f"ref {concat.ref} ({concat.ref_bits}-bit), part {concat.seq}/{concat.total}"


def _readable(msg: Decoded) -> str:
    if isinstance(msg, SmsSubmit):
        lines = [
            ("type", "submit"),
            ("smsc", msg.smsc or "-"),
            ("recipient", f"{msg.recipient.formatted} (TOA 0x{msg.recipient.toa:02X})"),
            ("reference", str(msg.message_reference)),
            ("dcs", f"0x{msg.dcs:02X} ({msg.encoding.value})"),
            ("concat", _concat_text(msg)),
            ("text", msg.text),
        ]
    elif isinstance(msg, SmsStatusReport):
        lines = [
            ("type", "status-report"),
            ("smsc", msg.smsc or "-"),
            ("recipient", f"{msg.recipient.formatted} (TOA 0x{msg.recipient.toa:02X})"),
            ("reference", str(msg.message_reference)),
            ("status", f"0x{msg.status:02X}"),
            ("scts", msg.scts.isoformat()),
            ("discharge", msg.discharge_time.isoformat()),
        ]
    else:
        lines = [
            ("type", "deliver"),
            ("smsc", msg.smsc or "-"),
            ("sender", f"{msg.sender.formatted} (TOA 0x{msg.sender.toa:02X})"),
            ("scts", msg.scts.isoformat()),
            ("pid", f"0x{msg.pid:02X}"),
            ("dcs", f"0x{msg.dcs:02X} ({msg.encoding.value})"),
            ("class", "-" if msg.message_class is None else str(msg.message_class)),
            ("concat", _concat_text(msg)),
            ("text", msg.text),
        ]
    if msg.warnings:
        lines.append(("warnings", ", ".join(msg.warnings)))
    return "\n".join(f"{key + ':':<11}{value}" for key, value in lines)


def _decode(text: str, *, has_sca: bool, lenient: bool) -> Decoded:
    try:
        return decode_pdu(text, has_sca=has_sca, lenient=lenient)
    except PduError as exc:
        try:  # a sent message read back from storage (AT+CMGL=4 lists STO SENT too)
            return decode_submit(text, has_sca=has_sca)
        except PduError:
            raise exc from None


@click.group("pdu")
def pdu_group() -> None:
    """Decode and encode SMS PDUs (TS 23.040)."""


@pdu_group.command("decode")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per PDU.")
@click.option("--no-sca", is_flag=True, help="Input is a bare TPDU without the SMSC prefix.")
@click.option("--lenient", is_flag=True, help="Show the readable prefix of truncated user data.")
@click.argument("hex_pdus", metavar="HEX...", nargs=-1)
def decode_command(as_json: bool, no_sca: bool, lenient: bool, hex_pdus: tuple[str, ...]) -> None:
    """Decode PDUs given as arguments, or one hex PDU per line on stdin.

    Received messages (SMS-DELIVER, SMS-STATUS-REPORT) and, for stored sent messages,
    SMS-SUBMIT are understood.
    """
    source: Iterable[str] = hex_pdus or (line for line in sys.stdin if line.strip())
    failed = False
    first = True
    for number, item in enumerate(source, start=1):
        text = item.strip()
        try:
            msg = _decode(text, has_sca=not no_sca, lenient=lenient)
        except PduError as exc:
            failed = True
            click.echo(f"error: PDU {number}: {exc}", err=True)
            continue
        if as_json:
            click.echo(json.dumps(to_json_dict(msg), ensure_ascii=False))
        else:
            click.echo(("" if first else "\n") + _readable(msg))
            first = False
    if failed:
        sys.exit(1)


@pdu_group.command("encode")
@click.option("--sender", required=True, help="'+86…' international, digits, or a name.")
@click.option("--text", required=True, help="Message text; long text is split into parts.")
@click.option("--scts", help="Service-centre time stamp, ISO-8601 with offset (default: now).")
@click.option("--class", "message_class", type=click.IntRange(0, 3), help="Message class 0-3.")
@click.option(
    "--encoding",
    type=click.Choice(["auto", "gsm7", "ucs2"]),
    default="auto",
    show_default=True,
)
@click.option("--smsc", help="SMSC number for the PDU-mode prefix (default: none, '00').")
@click.option("--concat-ref", type=click.IntRange(0, 0xFFFF), default=0, show_default=True)
@click.option("--ref-bits", type=click.Choice(["8", "16"]), default="8", show_default=True)
def encode_command(
    sender: str,
    text: str,
    scts: str | None,
    message_class: int | None,
    encoding: str,
    smsc: str | None,
    concat_ref: int,
    ref_bits: str,
) -> None:
    """Encode SMS-DELIVER PDU(s); prints each part's hex on its own line."""
    if scts is None:
        when = datetime.now().astimezone().replace(microsecond=0)
    else:
        try:
            when = datetime.fromisoformat(scts)
        except ValueError as exc:
            raise click.BadParameter(f"{scts!r} is not ISO-8601", param_hint="--scts") from exc
        if when.tzinfo is None:
            raise click.BadParameter("needs a UTC offset, e.g. +08:00", param_hint="--scts")
    try:
        parts = encode_deliver(
            sender,
            text,
            when,
            smsc=smsc,
            message_class=message_class,
            encoding="auto" if encoding == "auto" else Encoding(encoding),
            concat_ref=concat_ref,
            ref_bits=int(ref_bits),
        )
    except EncodeError as exc:
        raise click.ClickException(str(exc)) from exc
    for part in parts:
        click.echo(part.hex)
