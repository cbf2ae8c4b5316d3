"""The judged probes a bundle keeps while its records pass, for the files written after
the last record (report pages, report.json, billing.json).

A vendor-month is ~820,000 probes. Kept as JudgedProbe objects (and then as a tally per
probe inside `build_report`) they held ~1.3 GB by the month's end. Here each probe is its
id, the index of its key (every field but the id, the send time and the four measured
values: a vendor-day's 27,000 probes have ~200 keys, shared) and its send time and values
in flat arrays: ~100 bytes a probe. Iterating gives back the very probes, in order (the
billing statement sums money probe by probe, in that order); `report_tallies` gives the
report its counted input already merged per key and rate bucket, so `build_report` holds
a tally per key and bucket, not per probe.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from operator import attrgetter, itemgetter
from typing import Any, overload

from agent.common.units import NS
from collector.reports.build import bucket_for
from collector.reports.figures import JudgedProbe, Tally

_NAMES = tuple(JudgedProbe.__dataclass_fields__)
_VALUE_NAMES = ("latency_s", "latency_uncertainty_s", "vendor_delay_s", "carrier_delay_s")
_OWN = ("probe_id", "submitted_at_ns", *_VALUE_NAMES)  # a probe's own; the rest is its key
_KEY_NAMES = tuple(n for n in _NAMES if n not in _OWN)
_key_of = attrgetter(*_KEY_NAMES)  # the fields probes alike but for their own share
_values_of = attrgetter(*_VALUE_NAMES)
_all_of = attrgetter(*_NAMES)
_key_in, _values_in = itemgetter(*_KEY_NAMES), itemgetter(*_VALUE_NAMES)
_OUTCOME, _VENDOR = _KEY_NAMES.index("outcome"), _KEY_NAMES.index("vendor")
_ID, _AT = _NAMES.index("probe_id"), _NAMES.index("submitted_at_ns")
_VALUE_AT = tuple(_NAMES.index(n) for n in _VALUE_NAMES)
_KEY_AT = tuple(_NAMES.index(n) for n in _KEY_NAMES)
_NONE = math.nan  # a value the probe does not have (its bit in `_has` is 0)
# build_report's rate series counts these outcomes (reports/build.py: `counted`)
_RATED = ("delivered", "late", "lost")


class KeptProbes(Sequence[JudgedProbe]):
    """The judged probes, appended in record order (a read-only sequence of them)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[Any, ...], int] = {}
        self._key_values: list[tuple[Any, ...]] = []
        self._first: list[int] = []  # each key's first probe
        self._templates: list[tuple[Any, ...]] = []  # each key's fields, JudgedProbe's order
        self._ids: list[str] = []
        self._key = array("I")
        self._at = array("q")
        self._values = array("d")  # 4 a probe, VALUE_NAMES' order
        self._has = array("B")  # which of the 4 the probe has (bit i)
        self._odd: dict[int, JudgedProbe] = {}  # probes whose values are not floats
        # what build_report's bucket_for reads: the rated probes' send span and count
        self._rated_first: int | None = None
        self._rated_last: int | None = None
        self._rated = 0
        self._rated_vendors: set[str] = set()

    def append(self, p: JudgedProbe) -> None:
        self._add(_key_of(p), p.probe_id, p.submitted_at_ns, _values_of(p), lambda: p)

    def append_json(self, judged: Mapping[str, Any]) -> None:
        """A record's "judged" object (JudgedProbe.from_dict's), without the object."""
        try:
            key, values = _key_in(judged), _values_in(judged)
            probe_id, at = judged["probe_id"], judged["submitted_at_ns"]
        except KeyError:  # a field left at its default
            self.append(JudgedProbe.from_dict(judged))
            return
        self._add(key, probe_id, at, values, lambda: JudgedProbe.from_dict(judged))

    def _add(
        self,
        key: tuple[Any, ...],
        probe_id: str,
        at: int,
        values: tuple[Any, ...],
        probe: Callable[[], JudgedProbe],
    ) -> None:
        index = self._keys.get(key)
        if index is None:
            index = self._keys[key] = len(self._key_values)
            self._key_values.append(key)
            self._first.append(len(self._ids))
            template: list[Any] = [None] * len(_NAMES)
            for at_, v in zip(_KEY_AT, key, strict=True):
                template[at_] = v
            self._templates.append(tuple(template))
        has = 0
        for i, v in enumerate(values):
            if v is not None:
                if type(v) is not float:  # kept as is: an int must come back an int
                    self._odd[len(self._ids)] = probe()
                has |= 1 << i
        self._ids.append(probe_id)
        self._key.append(index)
        self._at.append(at)
        self._values.extend(_NONE if v is None else v for v in values)
        self._has.append(has)
        if key[_OUTCOME] in _RATED:
            self._rated += 1
            self._rated_vendors.add(key[_VENDOR])
            if self._rated_first is None or at < self._rated_first:
                self._rated_first = at
            if self._rated_last is None or at > self._rated_last:
                self._rated_last = at

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> JudgedProbe: ...
    @overload
    def __getitem__(self, i: slice) -> list[JudgedProbe]: ...
    def __getitem__(self, i: int | slice) -> JudgedProbe | list[JudgedProbe]:
        if isinstance(i, slice):
            return [self._probe(j) for j in range(*i.indices(len(self)))]
        j = i + len(self) if i < 0 else i
        if not 0 <= j < len(self):
            raise IndexError(i)
        return self._probe(j)

    def __iter__(self) -> Iterator[JudgedProbe]:
        return map(self._probe, range(len(self._ids)))

    def _probe(self, i: int) -> JudgedProbe:
        odd = self._odd.get(i)
        if odd is not None:
            return odd
        fields = list(self._templates[self._key[i]])  # the key's fields in place
        fields[_ID] = self._ids[i]
        fields[_AT] = self._at[i]
        bits = self._has[i]
        if bits:
            values = self._values[4 * i : 4 * i + 4]
            for j, at in enumerate(_VALUE_AT):
                if bits >> j & 1:
                    fields[at] = values[j]
        return JudgedProbe(*fields)

    def distinct(self) -> Iterator[JudgedProbe]:
        """One probe of each key (all a price by vendor, carrier and profile reads)."""
        return map(self._probe, self._first)

    def tallies(self, bucket_s: int | None, count: Counting) -> list[JudgedProbe | Tally]:
        """`count` (pages.counted) of the probes, its tallies merged where they differ
        only in their send time within one rate bucket of `bucket_s` (None: one bucket),
        the first one's time kept, each kind's values in a flat array. What `count` makes
        of a probe depends on its key only (kept as itself, or which of its values ride
        on its tally): asked once per key, of its first probe with every value set."""
        step = (bucket_s or 0) * NS
        out: list[JudgedProbe | Tally] = []
        made: dict[int, tuple[JudgedProbe, tuple[tuple[int, str], ...]] | None] = {}
        slots: dict[tuple[int, int], tuple[JudgedProbe, list[int], dict[str, array[float]]]]
        slots = {}
        values, has, odd = self._values, self._has, self._odd  # odd: as themselves
        for i, k in enumerate(self._key):
            if k not in made:
                made[k] = _counted_as(self._probe(i), count)
            how = made[k]
            if how is None or i in odd:  # billed above the rule, or not floats: one by one
                out.append(self._probe(i))
                continue
            bare, kinds = how
            at = self._at[i]
            slot = slots.get((k, at // step if step else 0))
            if slot is None:
                fields = list(_all_of(bare))  # dataclasses.replace costs 30 us
                fields[_AT] = at
                slot = _slot(slots, k, step, JudgedProbe(*fields))
            slot[1][0] += 1
            bits = has[i]
            for j, kind in kinds:
                if bits >> j & 1:
                    slot[2][kind].append(values[4 * i + j])
        for first, n, by_kind in slots.values():
            kept = tuple(
                (kind, vs, array("B", [1]) * len(vs)) for kind, vs in by_kind.items() if vs
            )
            out.append(Tally(first, n[0], kept))
        return out

    def bucket_s(self) -> int | None:
        """The rate series' bucket build_report would choose for these probes one by one
        (None: no rated probe; it then chooses from the period)."""
        if self._rated_first is None or self._rated_last is None:
            return None
        span = self._rated_last - self._rated_first
        return bucket_for(span, self._rated / (len(self._rated_vendors) or 1))


Counting = Callable[[Iterable[JudgedProbe]], Iterator[JudgedProbe | Tally]]
_Slot = tuple[JudgedProbe, list[int], "dict[str, array[float]]"]


def _counted_as(
    p: JudgedProbe, count: Counting
) -> tuple[JudgedProbe, tuple[tuple[int, str], ...]] | None:
    """What `count` makes of the probes of p's key: None (each kept as itself), else the
    tally's id-less probe and which values (index in VALUE_NAMES) ride on it as what kind."""
    every = replace(p, latency_s=1.0, latency_uncertainty_s=2.0, vendor_delay_s=3.0,
                    carrier_delay_s=4.0)  # fmt: skip
    (made,) = count([every])
    if not isinstance(made, Tally):
        return None
    kinds = tuple((int(vs[0]) - 1, kind) for kind, vs, _ in made.values)
    return made.probe, kinds


def _slot(slots: dict[tuple[int, int], _Slot], k: int, step: int, first: JudgedProbe) -> _Slot:
    at = first.submitted_at_ns // step if step else 0
    slot = slots[(k, at)] = (first, [0], defaultdict(lambda: array("d")))
    return slot
