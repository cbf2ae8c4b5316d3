"""The hourly rollups compacted per UTC day: the value multisets (migration 0016), one row
per day, value key without its hours, and kind, holding the day's rollup_values rows of
that key as packed arrays (`pack_runs`/`unpack_runs`), read with `array.frombytes`
instead of a row per value; and the count rows, one row per day and vendor read as ~30 a
vendor for a month instead of a row of 18 key columns per hour and key: int64 arrays with
the keys' texts (migration 0022, `pack_count_entries`), or a text on days packed before it
(0020, `pack_counts`/`unpack_counts`); with each day's distinct report marks per vendor
(rollup_mark_days, 0022) instead of a DISTINCT over its count rows.

Exactly consistent: a day listed in rollup_compacted_days has a blob for every key of its
value rows, a packed row and the marks for every vendor of its count rows, and nothing
else; every write that changes a day's value or count rows deletes that day's blobs,
packed counts, marks and listing in its own transaction (`_rollup_days_touched`, called by
the delta upserts); `compact_rollups` writes them back for closed days, the rows read
under a SHARE lock on PostgreSQL (writers of deltas wait until it commits, so none slips
between the read and the blobs). Reads (`rollup_value_runs`, `rollup_value_sums`,
`rollup_count_sum_rows`, `rollup_hour_marks`) use a listed day's packed rows and the
hourly rows of every other day; `check_rollups` compares them with the rows.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import tzinfo
from typing import Any

from collector.ledger.migrations import Dialect
from collector.ledger.rollups import (
    DAY_NS,
    HOUR_NS,
    AscendingValues,
    RollupCount,
    Slices,
    ValueRun,
    whole_offset_ns,
)
from collector.ledger.sql.core import SqlCore
from collector.ledger.sql.query import Tx, Where, chunks
from collector.stats import Ones

# The blob key: rollup_values' key without hour_ns and sent_hour_ns (and the value).
BLOB_KEY = ("vendor", "carrier", "mvno", "region", "profile", "band", "msisdn", "burst",
            "submit_status", "kind")  # fmt: skip
_ROWS = ", ".join([*BLOB_KEY, "hour_ns", "sent_hour_ns", "value", "n"])
_DAY = f"hour_ns / {DAY_NS} * {DAY_NS}"
COMPACT_AFTER_NS = 6 * HOUR_NS  # a day is compacted this long after it ended
_DAY_TABLES = ("rollup_compacted_days", "rollup_value_days", "rollup_count_days",
               "rollup_mark_days")  # fmt: skip
_LITTLE = sys.byteorder == "little"
# migration 0021: the offset and the values per local day of its zone (pack_local)
_LOCAL = ("local_offset_ns", "local_days", "local_vals", "local_counts")
_DAY_OF = operator.itemgetter(0)
_ONE = (1).to_bytes(8, "little")  # a count of 1 as the packed arrays hold it


def _counts_blob(counts: array[int]) -> bytes:
    """Packed counts, empty when every one is 1 (values each once, the usual case:
    latencies at nanosecond resolution hardly repeat): half a day blob's bytes, which a
    month's report reads through to the local parts after them. Days packed before hold
    the ones, read alike."""
    return b"" if counts.count(1) == len(counts) else _bytes(counts)


def _ones_bytes(counts: bytes | memoryview, values: bytes | memoryview) -> bytes | memoryview:
    """A counts blob as bytes of one int64 per value (its ones when stored empty)."""
    return counts if len(counts) else _ONE * (len(values) // 8)


Segment = tuple[int, int, Sequence[float], Sequence[int]]  # hour, sent hour, values, counts


def _bytes(a: array[Any]) -> bytes:
    if not _LITTLE:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _array(code: str, data: bytes | memoryview, kind: type[array[Any]] = array) -> array[Any]:
    a = kind(code)
    a.frombytes(data)
    if not _LITTLE:
        a.byteswap()
    return a


def pack_runs(segments: Iterable[Segment]) -> tuple[bytes, bytes, bytes]:
    """(hour, sent hour, ascending values, counts) segments as the three blobs."""
    heads, values, counts = array("q"), array("d"), array("q")
    for hour, sent, vs, ks in segments:
        values.extend(vs)
        counts.extend(ks)
        heads.extend((hour, sent, len(values)))
    return _bytes(heads), _bytes(values), _counts_blob(counts)


def _parts(
    heads: bytes, values: bytes, counts: bytes, width: int
) -> Iterator[tuple[array[int], int, array[float], array[int]]]:
    """Packed heads of `width` integers, the last one where its part's values end, as
    (heads, the head's index, its values, their counts)."""
    h, v = _array("q", bytes(heads)), _array("d", bytes(values))
    k = _array("q", bytes(counts)) if len(counts) else array("q", [1]) * len(v)
    start = 0
    for i in range(0, len(h), width):
        end = h[i + width - 1]
        yield h, i, v[start:end], k[start:end]
        start = end


def unpack_runs(heads: bytes, values: bytes, counts: bytes) -> Iterator[Segment]:
    return ((h[i], h[i + 1], vs, ks) for h, i, vs, ks in _parts(heads, values, counts, 3))


def pack_local(segments: Iterable[Segment], offset_ns: int) -> tuple[bytes, bytes, bytes]:
    """Segments as migration 0021's local parts for a zone `offset_ns` east of UTC: per
    local day of their send hours (ascending), the values merged ascending with their
    counts, as the (local day, end) pairs, the values and the counts. A repeated value is
    one entry with its counts summed when some count of that local day is above 1, else
    listed each time: a part is then each value once exactly when its segments were, as
    the figures tell their two ways of merging apart (reports/figures.py `_ascending`)."""
    slices = Slices(offset_ns=offset_ns)
    days: dict[int, list[tuple[float, int]]] = {}
    for _, sent, vs, ks in segments:
        days.setdefault(slices.day(sent), []).extend(zip(vs, ks, strict=True))
    heads, values, counts = array("q"), array("d"), array("q")
    for day in sorted(days):
        pairs = sorted(days[day], key=operator.itemgetter(0))  # stable: as sorted before
        if any(k != 1 for _, k in pairs):
            start = len(values)
            for v, k in pairs:
                if len(values) > start and values[-1] == v:  # e.g. in another hour
                    counts[-1] += k
                else:
                    values.append(v)
                    counts.append(k)
        else:
            values.extend(v for v, _ in pairs)
            counts.extend(itertools.repeat(1, len(pairs)))
        heads.extend((day, len(values)))
    return _bytes(heads), _bytes(values), _counts_blob(counts)


def unpack_local(days: bytes, values: bytes, counts: bytes) -> Iterator[Segment]:
    """pack_local's parts as (local day, local day, values, counts)."""
    return ((h[i], h[i], vs, ks) for h, i, vs, ks in _parts(days, values, counts, 2))


def hour_ranges(
    since_ns: int, until_ns: int, skip: Collection[int], width: int = HOUR_NS
) -> list[tuple[int, int]]:
    """[since, until) without the spans [s, s + width) starting at `skip` (hours unless
    told), as ranges."""
    out: list[tuple[int, int]] = []
    start = since_ns
    for at in sorted(h for h in skip if since_ns - width < h < until_ns):
        if start < at:
            out.append((start, at))
        start = max(start, at + width)
    if start < until_ns:
        out.append((start, until_ns))
    return out


# A count key without its hours: RollupCount's fields from vendor to missing_parts, as
# rollup_counts stores them (billed_parts -1 for none); rollup_count_days' text form of a
# day's count rows (migration 0020) keys each entry with it.
COUNT_KEY = tuple(f for f in RollupCount.__dataclass_fields__
                  if f not in ("hour_ns", "sent_hour_ns", "n"))  # fmt: skip
_INTS = tuple(f in ("burst", "parts", "billed_parts", "duplicates") for f in COUNT_KEY)


def count_key_text(key: Sequence[Any]) -> str:
    """A count key (COUNT_KEY's order, as stored) as migration 0020 writes it: a text as its
    length in characters, ':' and itself, an integer as its digits and ','. Each field
    delimits itself, so the text is one key's and no other's, and no proper prefix of it is
    a key's text."""
    return "".join(f"{v}," if i else f"{len(v)}:{v}" for v, i in zip(key, _INTS, strict=True))


def count_key_of_text(text: str, at: int = 0) -> tuple[tuple[Any, ...], int]:
    """The key `count_key_text` made of text[at:...] and where its text ends."""
    out: list[Any] = []
    for is_int in _INTS:
        if is_int:
            end = text.index(",", at)
            out.append(int(text[at:end]))
            at = end + 1
        else:
            colon = text.index(":", at)
            at = colon + 1 + int(text[at:colon])
            if at > len(text):
                raise ValueError(f"a rollup_count_days key is cut short: {text[:200]!r}")
            out.append(text[colon + 1 : at])
    return tuple(out), at


def pack_counts(rows: Iterable[Sequence[Any]]) -> str:
    """Count rows (*COUNT_KEY, hour_ns, sent_hour_ns, n) as rollup_count_days.counts held
    them before migration 0022 (what `unpack_counts` reads of days packed then; written now
    only by tests): an entry per key (its text, a tab, the rows' comma-separated triples),
    newline-separated."""
    entries: dict[str, list[str]] = {}
    for r in rows:
        entries.setdefault(count_key_text(r[:-3]), []).append(f"{r[-3]},{r[-2]},{r[-1]}")
    return "\n".join(f"{key}\t{','.join(triples)}" for key, triples in entries.items())


def unpack_counts(
    text: str, known: dict[str, tuple[Any, ...]]
) -> Iterator[tuple[tuple[Any, ...], list[int]]]:
    """rollup_count_days.counts as (key, [hour, sent hour, n, hour, ...]) per entry; `known`:
    key texts already read (a key's text is read once; a text up to the first tab that is
    a whole key's text is that entry's key, as no proper prefix of a key's text is one)."""
    at, size = 0, len(text)
    while at < size:
        tab = text.find("\t", at)
        key = known.get(text[at:tab]) if tab >= 0 else None
        if key is None:  # a key not seen yet, or holding a tab: read field by field
            key, tab = count_key_of_text(text, at)
            if text[tab : tab + 1] != "\t":
                raise ValueError(
                    f"a rollup_count_days entry without its rows: {text[at : at + 200]!r}"
                )
            known[text[at:tab]] = key
        line = text.find("\n", tab)
        end = size if line < 0 else line
        yield key, list(map(int, text[tab + 1 : end].split(",")))
        at = end + 1


def pack_count_entries(rows: Iterable[Sequence[Any]]) -> tuple[str, bytes]:
    """Count rows (*COUNT_KEY, hour_ns, sent_hour_ns, n) as migration 0022 packs them: the
    keys' texts one after the other (rollup_count_days.counts) and, per entry, where its
    key's text ends, m, its m hours, m send hours and m counts as int64 (.entries); the
    rows' order kept within an entry."""
    entries: dict[str, list[Sequence[Any]]] = {}
    for r in rows:
        entries.setdefault(count_key_text(r[:-3]), []).append(r)
    out, end = array("q"), 0
    for text, rs in entries.items():
        end += len(text)
        out.extend((end, len(rs)))
        for col in (-3, -2, -1):
            out.extend(r[col] for r in rs)
    return "".join(entries), _bytes(out)


# an entry: its key (COUNT_KEY's order, as stored), hours, send hours, counts
CountEntry = tuple[tuple[Any, ...], list[int], list[int], list[int]]


def unpack_count_entries(
    keys: str, entries: bytes, known: dict[str, tuple[Any, ...]]
) -> Iterator[CountEntry]:
    """`pack_count_entries`' form read back; `known`: key texts already read."""
    a = _array("q", bytes(entries)).tolist()
    at = i = 0
    size = len(a)
    while i < size:
        if i + 2 > size:
            raise ValueError(f"a rollup_count_days entry is cut short at int64 {i}")
        end, m = a[i], a[i + 1]
        h = i + 2
        if m < 1 or h + 3 * m > size or not at < end <= len(keys):
            raise ValueError(f"a rollup_count_days entry is malformed at int64 {i}: ({end}, {m})")
        text = keys[at:end]
        if (key := known.get(text)) is None:
            key, stop = count_key_of_text(text)
            if stop != len(text):
                raise ValueError(f"a rollup_count_days key text holds more: {text[:200]!r}")
            known[text] = key
        yield key, a[h : h + m], a[h + m : h + 2 * m], a[h + 2 * m : h + 3 * m]
        at, i = end, h + 3 * m
    if at != len(keys):
        raise ValueError(f"rollup_count_days keys without entries: {keys[at : at + 200]!r}")


def count_entries(
    counts: str, entries: bytes | None, known: dict[str, tuple[Any, ...]]
) -> Iterator[CountEntry]:
    """A rollup_count_days row's entries, packed as integers (0022) or as text (0020)."""
    if entries is not None:
        yield from unpack_count_entries(counts, entries, known)
        return
    for key, rows in unpack_counts(counts, known):
        yield key, rows[0::3], rows[1::3], rows[2::3]


# rollup_mark_days (migration 0022): a day's distinct marks of its count rows, per vendor
MARK_COLS = ("vendor", "hour_ns", "sent_hour_ns", "burst", "over_billed", "outcome", "content")
_MARK_OF = tuple(COUNT_KEY.index(f) for f in ("burst", "parts", "billed_parts", "outcome",
                                              "content"))  # fmt: skip


def count_marks(rows: Iterable[Sequence[Any]]) -> set[tuple[Any, ...]]:
    """Count rows (*COUNT_KEY, hour_ns, sent_hour_ns, n) as their distinct MARK_COLS, as
    rollup_hour_marks' DISTINCT reads them (billed above parts: billed_parts > parts)."""
    b, p, bp, o, c = _MARK_OF
    return {(r[0], int(r[-3]), int(r[-2]), int(r[b]), int(r[bp] > r[p]), r[o], r[c])
            for r in rows}  # fmt: skip


def _day_count_rows(tx: Tx, day: int) -> Sequence[tuple[Any, ...]]:
    """A UTC day's count rows as (*COUNT_KEY, hour_ns, sent_hour_ns, n), as packed: send
    hours ascending (a whole day's entry is then summed a slice at a time)."""
    return tx.tuples(
        f"SELECT {', '.join(COUNT_KEY)}, hour_ns, sent_hour_ns, n FROM rollup_counts"
        " WHERE hour_ns >= ? AND hour_ns < ? ORDER BY sent_hour_ns, hour_ns",
        (day, day + DAY_NS),
    )


# (blob key, local day) -> the little-endian bytes of its values and of their counts, in
# parts; a counts part that is an int: that many counts of 1 (no bytes made for them)
Chunks = dict[tuple[Any, ...], tuple[list[bytes | memoryview], list[bytes | memoryview | int]]]


def _slice_days(
    out: Chunks, key: tuple[Any, ...], segments: Iterable[Segment], keep: Callable[[int], bool],
    slices: Slices,
) -> None:  # fmt: skip
    """Segments (hour by hour) of one blob key added to `out` per local day of their send
    hour, the hours `keep` refuses left out."""
    for hour, sent, values, counts in segments:
        if keep(hour):
            slot = out.setdefault((key, slices.day(sent)), ([], []))
            slot[0].append(_bytes(array("d", values)))
            slot[1].append(_bytes(array("q", counts)))


def _days(days: Sequence[int], vendor: str | None) -> Where:
    """The blobs of these (ascending) days, of one vendor or all."""
    return (Where().add("day_ns >= ?", days[0]).add("day_ns <= ?", days[-1])
            .maybe("vendor = ?", vendor).among("day_ns", days))  # fmt: skip


def _local_parts(
    out: Chunks, ascending: set[tuple[tuple[Any, ...], int]], key: tuple[Any, ...],
    rows: list[tuple[Any, ...]],
) -> None:  # fmt: skip
    """A key's whole days' local parts (rows: day_ns, ..., local_days, local_vals,
    local_counts, ...) added to `out` per local day: the key's days joined in day order,
    where a local day's parts from two UTC days lie side by side, one byte slice per run
    of parts of the same local day; a slot one part begins is noted in `ascending` (it
    stays so while nothing else joins it)."""
    rows.sort(key=_DAY_OF)
    heads = _array("q", b"".join([r[-6] for r in rows]))
    # one buffer of the key's values (and counts) that every local day's slot is a view of
    vals = memoryview(b"".join([r[-5] for r in rows]))
    joined = b"".join([r[-4] for r in rows])  # those stored empty: ones, nothing to join
    # counts all 1 (values each once, the usual case): a slot's counts are how many
    counts = None
    if joined != _ONE * (len(joined) // 8):  # some count above 1: each row's, ones filled in
        counts = memoryview(b"".join([_ones_bytes(r[-4], r[-5]) for r in rows]))
    base = first = end = 0  # in values: the row's start, the run's start, the part's end
    day, runs, at = None, 0, 0  # at: the next part's (local day, end) pair in heads
    for r in rows:
        stop = at + len(r[-6]) // 8
        while at < stop:
            if heads[at] != day:
                if day is not None:
                    _add_part(out, ascending, (key, day), vals, counts, first, end, runs)
                day, first, runs = heads[at], end, 0
            end, runs, at = base + heads[at + 1], runs + 1, at + 2
        base = end
    if day is not None:
        _add_part(out, ascending, (key, day), vals, counts, first, end, runs)


def _add_part(
    out: Chunks, ascending: set[tuple[tuple[Any, ...], int]], at: tuple[tuple[Any, ...], int],
    vals: memoryview, counts: memoryview | None, start: int, end: int, runs: int,
) -> None:  # fmt: skip
    piece = vals[start * 8 : end * 8]  # views: no copy
    tally = end - start if counts is None else counts[start * 8 : end * 8]
    if (slot := out.get(at)) is None:
        out[at] = ([piece], [tally])
        if runs == 1:
            ascending.add(at)
    else:
        slot[0].append(piece)
        slot[1].append(tally)


def _slice_blob(
    out: Chunks, key: tuple[Any, ...], blobs: Sequence[bytes], edges: Sequence[int],
    keep: Callable[[int], bool], slices: Slices,
) -> bool:  # fmt: skip
    """A day's blob added to `out` per local day of the send hours, as byte slices of its
    arrays: the segments cut only where the local day changes (`bisect` on the ascending
    send hours) or `keep` may (at the planned hours `edges`: the period's ends, a skipped
    hour's start and end; none when the whole day is kept), each run of segments between
    two cuts one slice (C), those `keep` refuses left out. False (nothing added) when the
    send hours do not ascend."""
    h = _array("q", blobs[0])
    sents, ends = h[1::3], h[2::3]
    m = len(sents)
    if not m or sorted(sents) != list(sents):
        return False
    first, last = slices.day(sents[0]), slices.day(sents[-1])
    cuts = [bisect.bisect_left(sents, day) for day in range(first + DAY_NS, last + 1, DAY_NS)]
    if edges:  # hours ascend: the blob's rows are ordered by hour, then send hour
        hours = h[0::3]
        cuts = sorted({*cuts, *(bisect.bisect_left(hours, edge) for edge in edges)})
    vals, counts = blobs[1], blobs[2]  # counts empty: all 1 (a slot's part: how many)
    for i, j in itertools.pairwise([0, *cuts, m]):
        if i < j and (not edges or keep(hours[i])):
            start, end = (ends[i - 1] if i else 0) * 8, ends[j - 1] * 8  # 8-byte items
            at = (key, slices.day(sents[i]))
            tally = counts[start:end] if counts else (end - start) // 8
            if (slot := out.get(at)) is None:
                out[at] = ([vals[start:end]], [tally])
            else:
                slot[0].append(vals[start:end])
                slot[1].append(tally)
    return True


def _runs(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[tuple[Any, ...], list[Segment]]]:
    """Value rows (_ROWS tuples) ordered by BLOB_KEY, hour, sent hour, value as (blob
    key, segments)."""
    width = len(BLOB_KEY)
    key: tuple[Any, ...] | None = None
    segments: list[Segment] = []
    at: tuple[int, int] | None = None
    values: list[float] = []
    counts: list[int] = []
    for r in rows:
        k = r[:width]
        hours = (int(r[width]), int(r[width + 1]))
        if k != key:
            if key is not None:
                yield key, segments
            key, segments, at = k, [], None
        if hours != at:
            values, counts = [], []
            segments.append((*hours, values, counts))
            at = hours
        values.append(float(r[width + 2]))
        counts.append(int(r[width + 3]))
    if key is not None:
        yield key, segments


def _hourly_runs(
    tx: Tx, ranges: Iterable[tuple[int, int]], vendor: str | None
) -> Iterator[tuple[tuple[Any, ...], list[Segment]]]:
    """The hourly value rows of the planned hours in each range, as runs per value key."""
    for lo, hi in ranges:
        where = Where().add("hour_ns >= ?", lo).add("hour_ns < ?", hi)
        where.maybe("vendor = ?", vendor)
        rows = tx.tuples(
            f"SELECT {_ROWS} FROM rollup_values{where}"
            f" ORDER BY {', '.join(BLOB_KEY)}, hour_ns, sent_hour_ns, value",
            where.params,
        )
        yield from _runs(rows)


def _value_runs(key: tuple[Any, ...], segments: Iterable[Segment]) -> Iterator[ValueRun]:
    """A blob key's segments as runs (the group's probe fields made once per key)."""
    vendor, carrier, mvno, region, profile, band, msisdn, burst, status, kind = key
    tail = (vendor, carrier, mvno, region, profile, band, msisdn, bool(burst), status)
    for hour, sent, values, counts in segments:
        yield ValueRun((hour, sent, *tail), kind, values, counts)


def _check_local(
    day: int, key: tuple[Any, ...], segments: Sequence[Segment], row: Any
) -> list[tuple[str, tuple[object, ...], int, int]]:
    """A blob's local parts (0021) against its segments: per local day of the send hours
    the same values with the same counts, each part ascending (readers take it as one run)
    with repeats summed exactly when some count is above 1 (pack_local), the local days
    ascending."""
    offset = int(row["local_offset_ns"])
    slices = Slices(offset_ns=offset)
    want: Counter[tuple[object, ...]] = Counter()
    once: dict[int, bool] = {}  # local day -> each of its segments' counts is 1
    for _, sent, vs, ks in segments:
        local_day = slices.day(sent)
        once[local_day] = once.get(local_day, True) and all(k == 1 for k in ks)
        for v, n in zip(vs, ks, strict=True):
            want[(day, *key, "local", offset, local_day, v)] += n
    have: Counter[tuple[object, ...]] = Counter()
    out: list[tuple[str, tuple[object, ...], int, int]] = []
    last = None
    for local_day, _, vs, ks in unpack_local(row["local_days"], row["local_vals"],
                                             row["local_counts"]):  # fmt: skip
        shaped = all(a <= b if once.get(local_day) else a < b for a, b in itertools.pairwise(vs))
        if not shaped or (last is not None and local_day <= last):
            where = (day, *key, "local", offset, local_day, "order")
            out.append(("rollup_value_days", where, 0, 1))
        last = local_day
        for v, n in zip(vs, ks, strict=True):
            have[(day, *key, "local", offset, local_day, v)] += n
    for diff in sorted(set(have) | set(want), key=repr):
        if have[diff] != want[diff]:
            out.append(("rollup_value_days", diff, have[diff], want[diff]))
    return out


class RollupDaySql(SqlCore):
    def _rollup_days_touched(self, tx: Tx, hours: Iterable[int]) -> None:
        """Value or count rows of these hours changed: their days' blobs and texts no
        longer hold them."""
        days = sorted({h // DAY_NS * DAY_NS for h in hours})
        for chunk in chunks(days):
            where = Where().among("day_ns", chunk)
            for table in _DAY_TABLES:
                tx.run(f"DELETE FROM {table}{where}", where.params)

    def _rollup_days_dropped(self, tx: Tx, lo: int, hi: int) -> None:
        """The value rows of planned hours [lo, hi) are being replaced (rebuild)."""
        first = lo // DAY_NS * DAY_NS
        for table in _DAY_TABLES:
            tx.run(f"DELETE FROM {table} WHERE day_ns >= ? AND day_ns < ?", (first, hi))

    def _snapshot(self, tx: Tx) -> None:
        """Every read of this (read-only) transaction sees the same moment: SQLite's
        deferred BEGIN does so; PostgreSQL's default (READ COMMITTED) would let a
        compaction or a delta commit between two of its statements."""
        if self.dialect is Dialect.POSTGRESQL:
            tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    # ------------------------------------------------------------ compaction
    def compact_rollups(
        self,
        *,
        before_ns: int | None = None,
        since_ns: int = 0,
        max_days: int | None = None,
        zone: tzinfo | None = None,
    ) -> int:
        """Compact every day from `since_ns` that ended COMPACT_AFTER_NS before
        `before_ns` (default: now) and is not compacted (never, or written since), newest
        first, at most `max_days`: one transaction a day. Returns the days compacted.
        `zone`: the reports' zone; a day's blobs also hold their values per local day of
        that zone (migration 0021) when its offset is whole hours and the same over the
        day's send hours."""
        until = (self._clock() if before_ns is None else before_ns) - COMPACT_AFTER_NS
        with self._transaction(write=False) as tx:
            span = tx.all("SELECT MIN(hour_ns) AS lo, MAX(hour_ns) AS hi FROM rollup_values"
                          " WHERE hour_ns >= ?", (since_ns,))  # fmt: skip
            done = {int(r["day_ns"]) for r in tx.all(
                "SELECT day_ns FROM rollup_compacted_days WHERE day_ns >= ?",
                (since_ns // DAY_NS * DAY_NS,))}  # fmt: skip
        if span[0]["lo"] is None:
            return 0
        lo, hi = int(span[0]["lo"]), int(span[0]["hi"])
        days = [d for d in range(lo // DAY_NS * DAY_NS, hi + 1, DAY_NS)
                if d + DAY_NS <= until and d not in done][::-1][:max_days]  # fmt: skip
        for day in days:
            self._compact_day(day, zone)
        return len(days)

    def _compact_day(self, day: int, zone: tzinfo | None) -> None:
        with self._transaction() as tx:
            if self.dialect is Dialect.POSTGRESQL:
                # Delta writers (ROW EXCLUSIVE) wait until this commits, and this waits for
                # those already writing: no delta between the read below and the blobs.
                # rollup_counts first: every writer of deltas writes it before rollup_values.
                tx.run("LOCK TABLE rollup_counts, rollup_values IN SHARE MODE")
            for table in _DAY_TABLES:
                tx.run(f"DELETE FROM {table} WHERE day_ns = ?", (day,))
            rows = tx.tuples(
                f"SELECT {_ROWS} FROM rollup_values WHERE hour_ns >= ? AND hour_ns < ?"
                f" ORDER BY {', '.join(BLOB_KEY)}, hour_ns, sent_hour_ns, value",
                (day, day + DAY_NS),
            )
            runs = list(_runs(rows))
            # every hour of the day and of its send hours (a late send may be the next day's)
            hours = {day, day + DAY_NS - HOUR_NS, *(s for _, segs in runs for _, s, _, _ in segs)}
            offset = whole_offset_ns(zone, range(min(hours), max(hours) + 1, HOUR_NS))
            blobs = [
                (day, *key, *pack_runs(segs), offset,
                 *(pack_local(segs, offset) if offset is not None else (None, None, None)))
                for key, segs in runs
            ]  # fmt: skip
            cols = ", ".join(["day_ns", *BLOB_KEY, "segments", "vals", "counts", *_LOCAL])
            marks = ", ".join("?" * (len(BLOB_KEY) + 8))
            if blobs:
                tx.many(f"INSERT INTO rollup_value_days ({cols}) VALUES ({marks})", blobs)
            counts: dict[str, list[tuple[Any, ...]]] = {}
            day_rows = _day_count_rows(tx, day)
            for r in day_rows:
                counts.setdefault(r[0], []).append(r)
            if counts:
                tx.many(
                    "INSERT INTO rollup_count_days (day_ns, vendor, counts, entries)"
                    " VALUES (?, ?, ?, ?)",
                    [(day, v, *pack_count_entries(rows)) for v, rows in sorted(counts.items())],
                )
                tx.many(
                    f"INSERT INTO rollup_mark_days (day_ns, {', '.join(MARK_COLS)})"
                    f" VALUES ({', '.join('?' * (len(MARK_COLS) + 1))})",
                    [(day, *m) for m in sorted(count_marks(day_rows))],
                )
            tx.run("INSERT INTO rollup_compacted_days (day_ns, compacted_at_ns) VALUES (?, ?)",
                   (day, self._clock()))  # fmt: skip

    # ------------------------------------------------------------ reading
    def _compacted(
        self, tx: Tx, since_ns: int, until_ns: int, vendor: str | None
    ) -> tuple[list[int], Where]:
        """The compacted days overlapping [since_ns, until_ns) and the filter of their
        blobs; snapshots `tx` first (the listing, the blobs and the rows of one moment)."""
        self._snapshot(tx)
        first = since_ns // DAY_NS * DAY_NS
        done = sorted(int(r["day_ns"]) for r in tx.all(
            "SELECT day_ns FROM rollup_compacted_days WHERE day_ns >= ? AND day_ns < ?",
            (first, until_ns)))  # fmt: skip
        where = Where().add("day_ns >= ?", first).add("day_ns < ?", until_ns)
        where.maybe("vendor = ?", vendor).among("day_ns", done)
        return done, where

    def rollup_value_runs(
        self, *, since_ns: int = 0, until_ns: int | None = None, vendor: str | None = None
    ) -> list[ValueRun]:
        """The value multisets of the planned hours in [since_ns, until_ns), one run per
        value group (RollupValue.group()) and kind, values ascending with their counts:
        from the blobs of compacted days, the hourly rows of the others."""
        until = until_ns if until_ns is not None else 2**62
        out: list[ValueRun] = []
        with self._transaction(write=False) as tx:
            done, where = self._compacted(tx, since_ns, until, vendor)
            if done:
                for r in tx.all(
                    f"SELECT {', '.join(BLOB_KEY)}, segments, vals, counts"
                    f" FROM rollup_value_days{where}",
                    where.params,
                ):
                    packed = unpack_runs(r["segments"], r["vals"], r["counts"])
                    out += _value_runs(tuple(r[c] for c in BLOB_KEY),
                                       (g for g in packed if since_ns <= g[0] < until))  # fmt: skip
            # the hours of the days not compacted, in ranges between compacted days
            for key, segs in _hourly_runs(tx, hour_ranges(since_ns, until, done, DAY_NS), vendor):
                out += _value_runs(key, segs)
        return out

    def rollup_value_sums(
        self,
        *,
        since_ns: int,
        until_ns: int,
        vendor: str | None = None,
        slices: Slices,
        skip_hours: Collection[int] = (),
    ) -> list[ValueRun]:
        """The value multisets of the planned hours in [since_ns, until_ns) but
        `skip_hours`, one run per value key without its hours, kind and local day of the
        send (`Slices.day`): the group's hour_ns and sent_hour_ns are that day's start, the
        values the concatenation of ascending runs (not ascending themselves). A whole
        compacted day (no edge, no skipped hour) whose blob holds local parts for
        `slices.offset_ns` gives each local day's part as stored (migration 0021); a run
        that is one such part alone is `AscendingValues`."""
        skip = {h for h in skip_hours if since_ns <= h < until_ns}
        edges: dict[int, list[int]] = {}  # UTC day -> where `keep` may change within it
        for h in sorted(skip):
            edges.setdefault(h // DAY_NS * DAY_NS, []).extend((h, h + HOUR_NS))
        out: Chunks = {}
        ascending: set[tuple[tuple[Any, ...], int]] = set()  # slots begun by a local part

        def keep(hour: int) -> bool:
            return since_ns <= hour < until_ns and hour not in skip

        with self._transaction(write=False) as tx:
            done, _ = self._compacted(tx, since_ns, until_ns, vendor)
            whole = [d for d in done
                     if since_ns <= d and d + DAY_NS <= until_ns and d not in edges]  # fmt: skip
            if whole:  # each local day's values as they are stored, for this zone (0021)
                at = _days(whole, vendor)
                own = "local_offset_ns = ?"
                parted: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}  # key -> its rows
                for r in tx.tuples(
                    f"SELECT day_ns, {', '.join(BLOB_KEY)},"
                    f" CASE WHEN {own} THEN local_days END, CASE WHEN {own} THEN local_vals END,"
                    f" CASE WHEN {own} THEN local_counts END,"
                    f" CASE WHEN {own} THEN NULL ELSE segments END,"
                    f" CASE WHEN {own} THEN NULL ELSE vals END,"
                    f" CASE WHEN {own} THEN NULL ELSE counts END FROM rollup_value_days{at}",
                    (*[slices.offset_ns] * 6, *at.params),
                ):
                    key = tuple(r[1:-6])
                    if r[-6] is not None:
                        if (rows := parted.get(key)) is None:
                            parted[key] = [r]
                        else:
                            rows.append(r)
                    elif not _slice_blob(out, key, blobs := [bytes(b) for b in r[-3:]], (),
                                         keep, slices):  # fmt: skip
                        _slice_days(out, key, unpack_runs(*blobs), keep, slices)
                for key, rows in parted.items():
                    _local_parts(out, ascending, key, rows)
            if cut_days := [d for d in done if d not in set(whole)]:
                at = _days(cut_days, vendor)
                for r in tx.tuples(
                    f"SELECT day_ns, {', '.join(BLOB_KEY)}, segments, vals, counts"
                    f" FROM rollup_value_days{at}",
                    at.params,
                ):
                    day, key, blobs = int(r[0]), tuple(r[1:-3]), [bytes(b) for b in r[-3:]]
                    cut = (since_ns, until_ns, *edges.get(day, ()))
                    if not _slice_blob(out, key, blobs, cut, keep, slices):
                        _slice_days(out, key, unpack_runs(*blobs), keep, slices)
            ranges = hour_ranges(since_ns, until_ns, done, DAY_NS)
            for key, segs in _hourly_runs(tx, ranges, vendor):
                _slice_days(out, key, segs, keep, slices)
        runs: list[ValueRun] = []
        tails: dict[tuple[Any, ...], tuple[tuple[object, ...], str]] = {}
        new = tuple.__new__  # not the NamedTuple's __new__, a Python function
        for (key, day), (values, counts) in out.items():
            if (tail := tails.get(key)) is None:
                vendor_, carrier, mvno, region, profile, band, msisdn, burst, status, kind = key
                tail = tails[key] = ((vendor_, carrier, mvno, region, profile, band, msisdn,
                                      bool(burst), status), kind)  # fmt: skip
            group = (day, day, *tail[0])
            if len(values) == 1:  # one slice: copied once, into its array
                kind = AscendingValues if (key, day) in ascending else array  # one local part
                vs: Sequence[float] = _array("d", values[0], kind)
            else:
                vs = _array("d", b"".join(values))
            if all(isinstance(k, int) for k in counts):
                ks: Sequence[int] = Ones(len(vs))
            else:  # a slot's counts as stored, a run of 1s where they were all 1
                ks = _array("q", b"".join([k if not isinstance(k, int) else _ONE * k
                                           for k in counts]))  # fmt: skip
            runs.append(new(ValueRun, (group, tail[1], vs, ks)))
        return runs

    # ------------------------------------------------------------ check
    def _check_days(self, out_differences: list[tuple[str, tuple[object, ...], int, int]]) -> int:
        """Compare every blob with the hourly rows it holds, a day at a time; a listed day
        must hold every key of its rows. Returns the blobs checked."""
        with self._transaction(write=False) as tx:
            days = sorted({int(r["day_ns"]) for r in tx.all(
                "SELECT day_ns FROM rollup_compacted_days UNION"
                " SELECT DISTINCT day_ns FROM rollup_value_days UNION"
                " SELECT DISTINCT day_ns FROM rollup_count_days UNION"
                " SELECT DISTINCT day_ns FROM rollup_mark_days")})  # fmt: skip
        blobs = 0
        for day in days:
            with self._transaction(write=False) as tx:
                self._snapshot(tx)
                listed = bool(
                    tx.all("SELECT day_ns FROM rollup_compacted_days WHERE day_ns = ?", (day,))
                )
                have: Counter[tuple[object, ...]] = Counter()
                for r in tx.all(
                    f"SELECT {', '.join(BLOB_KEY)}, segments, vals, counts, {', '.join(_LOCAL)}"
                    " FROM rollup_value_days WHERE day_ns = ?",
                    (day,),
                ):
                    blobs += 1
                    key = tuple(r[c] for c in BLOB_KEY)
                    segments = list(unpack_runs(r["segments"], r["vals"], r["counts"]))
                    for hour, sent, vs, ks in segments:
                        for v, n in zip(vs, ks, strict=True):
                            have[(day, *key, hour, sent, v)] += n
                    if r["local_offset_ns"] is not None:
                        out_differences += _check_local(day, key, segments, r)
                want: Counter[tuple[object, ...]] = Counter()
                if listed:
                    for r in tx.all(
                        f"SELECT {_ROWS} FROM rollup_values WHERE hour_ns >= ? AND hour_ns < ?",
                        (day, day + DAY_NS),
                    ):
                        key = tuple(r[c] for c in BLOB_KEY)
                        want[(day, *key, int(r["hour_ns"]), int(r["sent_hour_ns"]),
                              float(r["value"]))] += int(r["n"])  # fmt: skip
                for table, got, rows in (
                    ("rollup_value_days", have, want),
                    *self._check_count_day(tx, day, listed),
                ):
                    for diff in sorted(set(got) | set(rows), key=repr):
                        if got[diff] != rows[diff]:
                            out_differences.append((table, diff, got[diff], rows[diff]))
        return blobs

    def _check_count_day(
        self, tx: Tx, day: int, listed: bool
    ) -> list[tuple[str, Counter[tuple[object, ...]], Counter[tuple[object, ...]]]]:
        """A day's packed counts (by day, key, hour, send hour) and marks (by day and
        MARK_COLS), each with what its count rows give when the day is listed, as
        (table, stored, from the rows). A row that cannot be read counts as
        (day, "unreadable", vendor)."""
        have: Counter[tuple[object, ...]] = Counter()
        known: dict[str, tuple[Any, ...]] = {}
        for r in tx.all(
            "SELECT vendor, counts, entries FROM rollup_count_days WHERE day_ns = ?", (day,)
        ):
            entries = None if r["entries"] is None else bytes(r["entries"])
            try:
                got = list(count_entries(r["counts"], entries, known))
            except ValueError:
                have[(day, "unreadable", r["vendor"])] += 1
                continue
            for key, hours, sents, ns in got:
                if key[0] != r["vendor"]:  # filed under another vendor: never read as its own
                    have[(day, "vendor", r["vendor"], *key)] += 1
                for hour, sent, n in zip(hours, sents, ns, strict=True):
                    have[(day, *key, hour, sent)] += n
                if entries is not None and sents != sorted(sents):  # the reads rely on it
                    have[(day, "order", *key)] += 1
        marks: Counter[tuple[object, ...]] = Counter(
            (day, *(int(v) if isinstance(v, bool) else v for v in m))
            for m in tx.tuples(
                f"SELECT {', '.join(MARK_COLS)} FROM rollup_mark_days WHERE day_ns = ?", (day,)
            )
        )
        want: Counter[tuple[object, ...]] = Counter()
        want_marks: Counter[tuple[object, ...]] = Counter()
        if listed:
            rows = _day_count_rows(tx, day)
            for row in rows:
                want[(day, *row[:-1])] += int(row[-1])
            want_marks.update((day, *m) for m in count_marks(rows))
        return [("rollup_count_days", have, want), ("rollup_mark_days", marks, want_marks)]
