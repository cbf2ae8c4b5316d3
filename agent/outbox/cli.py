"""`smsprobe-agent outbox ...`: look into the outbox of a (running or stopped) agent."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import click

from agent.config import ConfigError, load_config
from agent.outbox.store import Outbox
from agent.wire.records import ReceivedSms, Record


def _iso(ns: int, tz_minutes: int = 0) -> str:
    if not ns:
        return ""
    tz = timezone(timedelta(minutes=tz_minutes)) if tz_minutes else UTC
    return datetime.fromtimestamp(ns / 1e9, tz).isoformat()


def message_json(record: Record, duplicate_parts: int = 0) -> dict[str, Any]:
    """One received message as the operator (and the kill -9 test) sees it."""
    body = record.body
    assert isinstance(body, ReceivedSms)
    first = body.parts[0]
    errors = [p.decode_error for p in body.parts if p.decode_error]
    return {
        "uuid": record.uuid,
        "seq": record.seq,
        "modem_imei": record.modem_imei,
        "iccid": record.iccid,
        "sender": body.sender,
        "text": body.text,
        "encoding": body.encoding,
        "scts": _iso(first.scts_ns, first.scts_tz_minutes),
        "received_at": _iso(max(p.received_at_ns for p in body.parts)),
        "persisted_at": _iso(record.persisted_at_ns),
        "parts": len(body.parts),
        "concat_ref": body.concat_ref,
        "concat_total": body.concat_total,
        "partial": body.partial,
        "missing_parts": list(body.missing_parts),
        "duplicate_parts": duplicate_parts,
        "part_uuids": [p.uuid for p in body.parts],
        "slots": [f"{p.storage}:{p.index}" for p in body.parts],
        "raw_pdus": [p.raw_pdu.hex().upper() for p in body.parts],
        "decode_error": "; ".join(errors),
        "undecodable": body.undecodable,
    }


@click.group("outbox")
def outbox_group() -> None:
    """Inspect the agent's durable outbox."""


@outbox_group.command("list")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
@click.option("--after-seq", default=0, show_default=True, help="Only records after this seq.")
def list_command(config_path: str, as_json: bool, after_seq: int) -> None:
    """Every received message in the outbox (acked ones until pruned)."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        sys.exit(2)
    if not config.outbox.path.exists():
        click.echo(f"no outbox at {config.outbox.path}", err=True)
        sys.exit(1)
    with Outbox(config.outbox.path) as box:
        records = box.records(kinds=("received_sms",), after_seq=after_seq)
        for record in records:
            item = message_json(record, box.duplicate_parts(record.seq))
            if as_json:
                click.echo(json.dumps(item, ensure_ascii=False))
            else:
                flag = " PARTIAL" if item["partial"] else ""
                click.echo(
                    f"{item['seq']:>8} {item['received_at'][:19]} {item['sender']:<16} "
                    f"{item['parts']}p{flag} {item['text'][:60]!r}"
                )
