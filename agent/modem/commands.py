"""Pure parsers for AT response lines (TS 27.007, TS 27.005 and real-world variants).

Every function takes the information lines of one response (or one URC line) and
returns frozen values; no I/O. Tolerance rules follow what real firmware sends (see
tests/agent/modem/test_commands.py, named after the devices the transcripts came from).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from agent.modem.errors import ResponseParseError


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() accepts '²' and other scripts' digits, which int()
    then rejects."""
    return text.isascii() and text.isdigit()


_HEX_RE: Final = re.compile(r"^[0-9A-Fa-f]+$")


def is_hex(line: str) -> bool:
    return bool(_HEX_RE.match(line))


def split_prefix(line: str, prefix: str) -> str | None:
    """`+CSQ: 21,99` with prefix `+CSQ` -> `21,99`; None when the prefix is absent.
    Case-insensitive; the space after the colon is optional (`+CESQ:10,...`)."""
    if not line.upper().startswith(prefix.upper()):
        return None
    rest = line[len(prefix) :]
    if not rest.startswith(":"):
        return None
    return rest[1:].strip()


def _raw_fields(payload: str) -> list[str]:
    """Comma-separated fields as written (quotes and spaces kept); commas inside double
    quotes or parentheses do not split."""
    fields: list[str] = []
    cur: list[str] = []
    in_quotes = False
    depth = 0
    for ch in payload:
        if ch == '"':
            in_quotes = not in_quotes
            cur.append(ch)
        elif ch == "(" and not in_quotes:
            depth += 1
            cur.append(ch)
        elif ch == ")" and not in_quotes:
            depth = max(0, depth - 1)
            cur.append(ch)
        elif ch == "," and not in_quotes and depth == 0:
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur))
    return fields


def _unquote(field: str) -> str:
    return field.strip().strip('"').strip()


def split_fields(payload: str) -> list[str]:
    """Comma-separated fields; commas inside double quotes do not split; quotes and
    surrounding spaces are removed. Parenthesised groups stay whole (`("SM","ME")`)."""
    return [_unquote(f) for f in _raw_fields(payload)]


def _int(field: str, what: str, line: str) -> int:
    try:
        return int(field.strip(), 10)
    except ValueError as exc:
        raise ResponseParseError(f"{what}: not an integer in {line!r}") from exc


def _find(lines: Sequence[str], prefix: str) -> tuple[str, str]:
    for line in lines:
        payload = split_prefix(line, prefix)
        if payload is not None:
            return line, payload
    raise ResponseParseError(f"no {prefix} line in {list(lines)!r}")


# --- identity ----------------------------------------------------------------------------


def parse_info(lines: Sequence[str], prefix: str = "") -> str:
    """Single-value answers (`AT+CGMI`, `AT+CGMM`, `AT+CGMR`, `AT+CGSN`): the first line,
    with an optional echo-like prefix (`+CGMR: ` on some SIMCom, `Revision: ` on Quectel)
    removed. Empty string when the modem returned no information line."""
    for line in lines:
        text = line.strip()
        for p in (prefix, "+CGMI", "+CGMM", "+CGMR", "+CGSN", "+GMR", "+GSN"):
            if p:
                payload = split_prefix(text, p)
                if payload is not None:
                    text = payload
                    break
        if text.upper().startswith("REVISION:"):
            text = text[len("REVISION:") :]
        return text.strip().strip('"')
    return ""


_IMEI_FIELD: Final = re.compile(r"^(?:IMEI\s*(?:SV)?\s*:?\s*)?([0-9][0-9 -]*)$", re.IGNORECASE)


def parse_imei(lines: Sequence[str]) -> str:
    """`AT+CGSN` -> IMEI (15 digits) or IMEISV (16), from the first field that is one: some
    firmware appends a serial number (`356936001568843,NL2A62Z0N5`), which is not part of
    it. Spaces and dashes inside the number and an `IMEI:` label are tolerated."""
    for line in lines:
        for field in split_fields(parse_info([line])):
            m = _IMEI_FIELD.match(field)
            digits = re.sub(r"[ -]", "", m.group(1)) if m else ""
            if 14 <= len(digits) <= 17:
                return digits
    raise ResponseParseError(f"no IMEI in {list(lines)!r}")


def parse_imsi(lines: Sequence[str]) -> str:
    """`AT+CIMI` -> bare 15-digit IMSI (some firmware prefix `+CIMI: `)."""
    for line in lines:
        text = split_prefix(line, "+CIMI")
        value = (text if text is not None else line).strip().strip('"')
        if _digits(value) and 6 <= len(value) <= 15:
            return value
    raise ResponseParseError(f"no IMSI in {list(lines)!r}")


def normalise_iccid(raw: str) -> str:
    """ICCID as printed on the card: un-swap the nibble-swapped form (starts `98`),
    drop F padding; hex letters are kept (Chinese ICCIDs may contain them).

    ITU-T E.118 §4.1: every ICCID starts with the telecom major industry identifier 89, so
    anything else (another line, a misread field, an unswapped SIM record) is refused. The
    Luhn check digit is not enforced: issued SIMs fail it (ModemManager's test ICCIDs
    8944200053671052499 and 89324102234690160476 do), and hex ICCIDs have none.
    """
    value = raw.strip().strip('"').upper()
    if value.startswith("98") and len(value) % 2 == 0:
        value = "".join(value[i + 1] + value[i] for i in range(0, len(value), 2))
    value = value.rstrip("F")
    if not 18 <= len(value) <= 20 or not is_hex(value):
        raise ResponseParseError(f"not an ICCID: {raw!r}")
    if not value.startswith("89"):
        raise ResponseParseError(f"not an ICCID (E.118 needs the prefix 89): {raw!r}")
    return value


def parse_iccid(lines: Sequence[str]) -> str:
    """`+QCCID: …`, `+ICCID: …`, `+CCID: …`, `^ICCID: …`, `ICCID: …`, a bare line, or
    `+CRSM: 144,0,"98…"` (READ BINARY of EF_ICCID)."""
    for line in lines:
        upper = line.upper()
        if upper.startswith("+CRSM"):
            payload = split_prefix(line, "+CRSM") or ""
            fields = split_fields(payload)
            if len(fields) >= 3 and fields[0] == "144":
                return normalise_iccid(fields[2])
            continue
        m = re.match(r"^[+^!]?[A-Z]*CCID\s*:\s*(.*)$", line, re.IGNORECASE)
        value = m.group(1) if m else line
        try:
            return normalise_iccid(value)
        except ResponseParseError:
            continue
    raise ResponseParseError(f"no ICCID in {list(lines)!r}")


def parse_cnum(lines: Sequence[str]) -> str:
    """First `+CNUM: [<alpha>],"<number>",<type>` number; "" when the SIM has none (common)."""
    for line in lines:
        payload = split_prefix(line, "+CNUM")
        if payload is None:
            continue
        fields = split_fields(payload)
        if len(fields) >= 3:
            number, toa = fields[1], fields[2]
            if toa == "145" and number and not number.startswith("+"):
                number = "+" + number
            return number
    return ""


# --- network -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """RSSI in dBm (None = not known / not detectable) and the raw +CSQ/+CESQ values."""

    rssi_dbm: int | None
    ber: int | None
    rsrp_dbm: float | None = None
    rsrq_db: float | None = None


def parse_csq(lines: Sequence[str]) -> Signal:
    """TS 27.007 §8.5: rssi 0 = ≤-113 dBm, 1 = -111, 2..30 = -109..-53, 31 = ≥-51, 99 unknown."""
    line, payload = _find(lines, "+CSQ")
    fields = split_fields(payload)
    if len(fields) < 2:
        raise ResponseParseError(f"+CSQ needs 2 fields: {line!r}")
    rssi, ber = _int(fields[0], "rssi", line), _int(fields[1], "ber", line)
    dbm = None if rssi == 99 or rssi > 31 else -113 + 2 * rssi
    return Signal(rssi_dbm=dbm, ber=None if ber == 99 else ber)


def parse_cesq(lines: Sequence[str]) -> Signal:
    """TS 27.007 §8.69: LTE rsrq 0..34 -> n/2 - 20 dB, rsrp 0..97 -> n - 141 dBm;
    rxlev 0..63 -> n - 111 dBm (GSM). 99/255 = unknown."""
    line, payload = _find(lines, "+CESQ")
    fields = split_fields(payload)
    if len(fields) < 6:
        raise ResponseParseError(f"+CESQ needs 6 fields: {line!r}")
    rxlev, ber, _rscp, _ecno, rsrq, rsrp = (_int(f, "cesq", line) for f in fields[:6])
    rsrp_dbm = None if rsrp == 255 or rsrp > 97 else float(rsrp - 141)
    rsrq_db = None if rsrq == 255 or rsrq > 34 else rsrq * 0.5 - 20.0
    rssi_dbm = None if rxlev == 99 or rxlev > 63 else rxlev - 111
    return Signal(
        rssi_dbm=rssi_dbm, ber=None if ber == 99 else ber, rsrp_dbm=rsrp_dbm, rsrq_db=rsrq_db
    )


class RegStatus(IntEnum):
    """`<stat>` of +CREG/+CGREG/+CEREG/+C5GREG (TS 27.007 §7.2, §10.1.22)."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5
    SMS_ONLY_HOME = 6
    SMS_ONLY_ROAMING = 7
    EMERGENCY_ONLY = 8
    CSFB_NOT_PREFERRED_HOME = 9
    CSFB_NOT_PREFERRED_ROAMING = 10
    ATTACHED_FOR_EMERGENCY = 11

    @property
    def registered(self) -> bool:
        return self in _REGISTERED


_REGISTERED: Final = frozenset(
    {
        RegStatus.HOME,
        RegStatus.ROAMING,
        RegStatus.SMS_ONLY_HOME,
        RegStatus.SMS_ONLY_ROAMING,
        RegStatus.CSFB_NOT_PREFERRED_HOME,
        RegStatus.CSFB_NOT_PREFERRED_ROAMING,
    }
)


@dataclass(frozen=True, slots=True)
class Registration:
    domain: str  # "CREG" | "CGREG" | "CEREG" | "C5GREG"
    status: RegStatus
    lac: str = ""
    cell_id: str = ""
    act: int | None = None  # access technology, TS 27.007 §7.3 (7 = E-UTRAN)


def _surely_location(raw: str) -> bool:
    """A raw field that can only be <lac>/<tac>: quoted (TS 27.007 §7.2 makes it a string),
    holding hex letters or spaces, or empty (`+CREG: 2,,`: a status, location left out)."""
    value = raw.strip()
    return value.startswith('"') or not _digits(value)


def _status_position(raw: Sequence[str]) -> int:
    """Index of <stat>, told by the fields themselves (TS 27.007 §7.2, §10.1.20, §10.1.22).

    The query answer is `<n>,<stat>[,<lac>,<ci>...]`, the URC `<stat>[,<lac>,<ci>...]`, and a
    URC may arrive while a query is outstanding, so only the fields can say which. <stat>
    is the field before the first one that must be a location: quoted/hex/empty first, then
    four or more bare digits (`+CREG: 1,0001,0010,0`; a zero-padded <n>/<stat> is at most
    `0011` only beside a quoted <lac>). With none, the count decides: `<stat>`,
    `<n>,<stat>`, `<stat>,<lac>,<ci>`, or `<n>,<stat>,<lac>,<ci>...` (`+CREG: 2,0,00,0`)."""
    for looks_like in (_surely_location, lambda f: len(f.strip()) >= 4):
        for i in (1, 2):
            if i < len(raw) and looks_like(raw[i]):
                return i - 1
    return 1 if len(raw) == 2 or len(raw) >= 4 else 0


def parse_registration(line: str) -> Registration:
    """`+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]` (query answer) or
    `+CREG: <stat>[,<lac>,<ci>[,<AcT>]]` (URC), and the same for +CGREG/+CEREG/+C5GREG;
    the shape is read from the fields (`_status_position`), not from who asked."""
    m = re.match(r"^\+(C5GREG|CEREG|CGREG|CREG)\s*:(.*)$", line.strip(), re.IGNORECASE)
    if not m:
        raise ResponseParseError(f"not a registration line: {line!r}")
    domain = m.group(1).upper()
    raw = _raw_fields(m.group(2))
    at = _status_position(raw)
    fields = [re.sub(r"\s+", "", _unquote(f)) for f in raw[at:]]
    if not fields or fields[0] == "":
        raise ResponseParseError(f"registration without status: {line!r}")
    stat_value = _int(fields[0], "stat", line)
    try:
        status = RegStatus(stat_value)
    except ValueError:
        status = RegStatus.UNKNOWN
    rest = fields[1:]
    if domain == "CEREG" and len(rest) >= 4 and len(rest[1]) <= 2 and _digits(rest[1]):
        # Novatel E362 (ModemManager tests): `+CEREG: 2,1, 1F00, 20 ,79D903 ,7` puts a
        # one-octet RAC between <tac> and <ci>.
        rest = [rest[0], *rest[2:]]
    lac = rest[0] if rest else ""
    ci = rest[1] if len(rest) > 1 else ""
    act: int | None = None
    # AcT follows <ci>; CGREG/CEREG may add <rac>/<cause> fields after it.
    if len(rest) > 2 and _digits(rest[2]):
        act = int(rest[2])
    return Registration(domain=domain, status=status, lac=lac.upper(), cell_id=ci.upper(), act=act)


@dataclass(frozen=True, slots=True)
class Operator:
    mode: int
    format: int | None
    name: str  # numeric PLMN ("46000") when format == 2
    act: int | None

    @property
    def mcc_mnc(self) -> str:
        return self.name if self.format == 2 and _digits(self.name) else ""


def parse_cops(lines: Sequence[str]) -> Operator:
    """`+COPS: <mode>[,<format>,"<oper>"[,<AcT>]]`; unregistered -> `+COPS: 0`."""
    line, payload = _find(lines, "+COPS")
    fields = split_fields(payload)
    mode = _int(fields[0], "mode", line)
    fmt = _int(fields[1], "format", line) if len(fields) > 1 and fields[1] else None
    name = fields[2] if len(fields) > 2 else ""
    act = _int(fields[3], "act", line) if len(fields) > 3 and fields[3] else None
    return Operator(mode=mode, format=fmt, name=name, act=act)


def parse_cpin(lines: Sequence[str]) -> str:
    """`+CPIN: READY` -> "READY"; also `NOT INSERTED`, `SIM PIN`..."""
    _line, payload = _find(lines, "+CPIN")
    return payload.strip('"').upper()


# --- SMS ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorageUse:
    storage: str
    used: int
    total: int


def parse_cpms_query(lines: Sequence[str]) -> list[StorageUse]:
    """`+CPMS: "ME",0,25,"ME",0,25,"SM",0,20` -> one StorageUse per memory (mem1..mem3)."""
    line, payload = _find(lines, "+CPMS")
    fields = split_fields(payload)
    if len(fields) < 3 or len(fields) % 3:
        raise ResponseParseError(f"+CPMS? needs (mem,used,total) triples: {line!r}")
    return [
        StorageUse(
            fields[i].upper(), _int(fields[i + 1], "used", line), _int(fields[i + 2], "total", line)
        )
        for i in range(0, len(fields), 3)
    ]


def parse_cpms_set(lines: Sequence[str], storages: Sequence[str]) -> list[StorageUse]:
    """`AT+CPMS="ME","ME","ME"` -> `+CPMS: <used1>,<total1>,...` paired with `storages`."""
    line, payload = _find(lines, "+CPMS")
    fields = split_fields(payload)
    pairs = len(fields) // 2
    return [
        StorageUse(
            storages[i].upper(),
            _int(fields[2 * i], "used", line),
            _int(fields[2 * i + 1], "total", line),
        )
        for i in range(min(pairs, len(storages)))
    ]


def parse_cnmi(lines: Sequence[str]) -> tuple[int, ...]:
    """`+CNMI: 2,1,0,2,0` -> (2, 1, 0, 2, 0)."""
    line, payload = _find(lines, "+CNMI")
    return tuple(_int(f, "cnmi", line) for f in split_fields(payload) if f != "")


def parse_cmgf(lines: Sequence[str]) -> int:
    line, payload = _find(lines, "+CMGF")
    return _int(payload, "cmgf", line)


def parse_cmgs(lines: Sequence[str]) -> int:
    """`+CMGS: <mr>[,<scts|ackpdu>]` -> message reference (TS 27.005 §3.5.1)."""
    line, payload = _find(lines, "+CMGS")
    return _int(split_fields(payload)[0], "mr", line)


@dataclass(frozen=True, slots=True)
class PduEntry:
    index: int | None  # None for +CMGR (the caller knows the index)
    stat: int | None  # 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT; None if not given
    length: int | None  # TPDU octets excluding the SMSC field (TS 27.005 §3.1 <length>)
    pdu: bytes


def _pdu_bytes(line: str) -> bytes:
    text = line.strip().strip('"').strip()
    if len(text) % 2:
        text = text[:-1]  # a truncated trailing nibble: keep the complete octets
    if not is_hex(text):
        raise ResponseParseError(f"not a PDU hex line: {line[:80]!r}")
    return bytes.fromhex(text)


def _header_fields(header_payload: str) -> list[str]:
    return split_fields(header_payload)


@dataclass(frozen=True, slots=True)
class UnparsedEntry:
    """Lines of a +CMGL listing that could not be read as an entry, kept verbatim."""

    index: int | None  # the header's <index> when it could be read: that slot holds an SMS
    lines: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CmglListing:
    """What a +CMGL listing held: the entries that parsed, and everything else raw."""

    entries: tuple[PduEntry, ...]
    unparsed: tuple[UnparsedEntry, ...] = ()


def _cmgl_entry(header: str, payload: str, pdu_line: str | None) -> PduEntry:
    fields = _header_fields(payload)
    index = _int(fields[0], "index", header)
    stat = _int(fields[1], "stat", header) if len(fields) > 1 and fields[1] else None
    length = _int(fields[-1], "length", header) if len(fields) > 2 and fields[-1] else None
    if pdu_line is None:
        raise ResponseParseError(f"+CMGL header without a PDU line: {header!r}")
    return PduEntry(index, stat, length, _pdu_bytes(pdu_line))


def parse_cmgl(lines: Sequence[str]) -> CmglListing:
    """`+CMGL: <index>,<stat>,[<alpha>],<length>` + PDU line, repeated (TS 27.005 §3.4.2).

    One bad entry must not hide the others (it could keep a whole SIM unread): what parses
    is returned, and every other line (a header whose fields or PDU line do not parse, a
    header cut off before its PDU line, a stray line) is kept in `unparsed`, with the
    header's index when it is readable so the caller leaves that slot alone."""
    entries: list[PduEntry] = []
    unparsed: list[UnparsedEntry] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        payload = split_prefix(header, "+CMGL")
        if payload is None:
            unparsed.append(UnparsedEntry(None, (header,), "line outside any +CMGL entry"))
            i += 1
            continue
        follows = i + 1 < len(lines) and split_prefix(lines[i + 1], "+CMGL") is None
        pdu_line = lines[i + 1] if follows else None
        group = (header,) if pdu_line is None else (header, pdu_line)
        try:
            entries.append(_cmgl_entry(header, payload, pdu_line))
        except ResponseParseError as exc:
            first = _header_fields(payload)[0]
            index = int(first) if _digits(first) else None
            unparsed.append(UnparsedEntry(index, group, str(exc)))
        i += len(group)
    return CmglListing(tuple(entries), tuple(unparsed))


def parse_cmgr(lines: Sequence[str]) -> PduEntry | None:
    """`+CMGR: <stat>,[<alpha>],<length>` + PDU line; None for an empty slot (bare OK).
    Real variants: `+CMGR: 0,23` (no alpha), `+CMGR: 24` (length only), `+CMGR: ,,92`,
    `+CMGR: 4,1,,151`; last field = length, first numeric field = stat if ≥ 2 fields."""
    for i, line in enumerate(lines):
        payload = split_prefix(line, "+CMGR")
        if payload is None:
            continue
        fields = _header_fields(payload)
        length = _int(fields[-1], "length", line) if fields and fields[-1] else None
        stat: int | None = None
        if len(fields) >= 2 and _digits(fields[0]):
            stat = int(fields[0])
        if i + 1 >= len(lines):
            raise ResponseParseError(f"+CMGR header without PDU line: {line!r}")
        return PduEntry(None, stat, length, _pdu_bytes(lines[i + 1]))
    return None


@dataclass(frozen=True, slots=True)
class StoredIndication:
    """`+CMTI: "<mem>",<index>` or `+CDSI: "<mem>",<index>` (TS 27.005 §3.4.1)."""

    storage: str
    index: int


def parse_stored_indication(line: str) -> StoredIndication:
    m = re.match(r"^\+CM?[TD]S?I\s*:\s*(.*)$", line.strip(), re.IGNORECASE)
    if not m:
        raise ResponseParseError(f"not a +CMTI/+CDSI line: {line!r}")
    fields = split_fields(m.group(1))
    if len(fields) < 2:
        raise ResponseParseError(f"+CMTI/+CDSI needs <mem>,<index>: {line!r}")
    return StoredIndication(fields[0].upper(), _int(fields[1], "index", line))


def parse_direct_length(line: str) -> int | None:
    """`+CMT: [<alpha>],<length>` / `+CDS: <length>` -> length (None if absent)."""
    for prefix in ("+CMT", "+CDS"):
        payload = split_prefix(line, prefix)
        if payload is not None:
            fields = split_fields(payload)
            return int(fields[-1]) if fields and _digits(fields[-1]) else None
    raise ResponseParseError(f"not a +CMT/+CDS line: {line!r}")
