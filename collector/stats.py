"""Statistics every figure in smsprobe uses, in one place so reports, time series and the
offline evidence verifier compute exactly the same numbers."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from statistics import NormalDist
from typing import overload

Z95 = 1.959963984540054  # two-sided 95 %


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not within 0..{n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At the edges the bounds are exactly 0 and 1; float cancellation must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


class Ordered(Sequence[float]):
    """A multiset of values read in ascending order: what the order statistics read. It
    is held as ascending runs (each a sorted sequence, with how many times each value
    occurs when some repeat: `counts`) and never merged into one list unless a caller
    asks for every value (`expanded`, iteration): the k-th smallest is selected across
    the runs by bisecting them (`at`), `at_most` sums a C `bisect` per run, and a union
    (`union`: e.g. a vendor's cell from its finer cells') is the list of their runs, no
    value copied. As a Sequence it is the values ascending, repeats listed. Built from
    the same multiset any way, every statistic below is the same, bit for bit."""

    __slots__ = ("_ends", "_found", "_n", "_runs")

    def __init__(
        self, runs: Sequence[Sequence[float]], ends: Sequence[Sequence[int] | None] | None = None
    ) -> None:
        self._runs: list[Sequence[float]] = list(runs)  # each ascending
        # per run: ends[i] = how many of its values are at or before position i (running
        # counts); None: each of its values occurs once (no list of running counts)
        self._ends: list[Sequence[int] | None] = (
            [None] * len(self._runs) if ends is None else list(ends)
        )
        self._n = sum(
            len(vs) if e is None else (e[-1] if e else 0)
            for vs, e in zip(self._runs, self._ends, strict=True)
        )
        # ranks already gathered by a selection: (first rank, those values ascending)
        self._found: list[tuple[int, list[float]]] = []

    @classmethod
    def of(cls, values: Iterable[float]) -> Ordered:
        return cls([sorted(values)])

    @classmethod
    def counted(cls, pairs: Iterable[tuple[float, int]]) -> Ordered:
        values: list[float] = []
        counts: list[int] = []
        for value, n in pairs:
            values.append(value)
            counts.append(n)
        return cls.of_counts(values, counts)

    @classmethod
    def of_counts(cls, values: Sequence[float], counts: Sequence[int]) -> Ordered:
        """values[i] occurring counts[i] times (counts >= 1; values in any order, repeats
        allowed)."""
        if len(counts) == sum(counts):  # each once: a plain sort
            return cls.of(values)
        order = sorted(range(len(values)), key=values.__getitem__)
        ends = list(itertools.accumulate(counts[i] for i in order))
        return cls([[values[i] for i in order]], [ends])

    @classmethod
    def of_runs(cls, runs: Iterable[tuple[Sequence[float], Sequence[int]]]) -> Ordered:
        """Ascending runs of (values, their counts), kept as they are (not copied)."""
        values: list[Sequence[float]] = []
        ends: list[Sequence[int] | None] = []
        for vs, ks in runs:
            if not vs:
                continue
            values.append(vs)
            ends.append(None if each_once(ks) else list(itertools.accumulate(ks)))
        return cls(values, ends)

    @classmethod
    def union(cls, parts: Sequence[Ordered]) -> Ordered:
        """The multisets together: their runs side by side."""
        if len(parts) == 1:
            return parts[0]
        whole = cls.__new__(cls)
        whole._runs = [vs for part in parts for vs in part._runs]
        whole._ends = [e for part in parts for e in part._ends]
        whole._n = sum(part._n for part in parts)
        whole._found = []
        return whole

    def __len__(self) -> int:
        return self._n

    @property
    def runs(self) -> tuple[Sequence[float], ...]:
        """The ascending runs held (as given: not copied), merged into one only by
        `expanded`, iteration, slicing, `pairs`, `values` or runs too short to select in."""
        return tuple(self._runs)

    @property
    def values(self) -> Sequence[float]:
        """The distinct entries ascending (one run: repeats as their counts say)."""
        self._flatten()
        return self._runs[0] if self._runs else []

    def at(self, k: int) -> float:
        """The k-th smallest value, from 0."""
        if not 0 <= k < self._n:
            raise IndexError(f"rank {k} not within 0..{self._n - 1}")
        if len(self._runs) == 1:
            vs, e = self._runs[0], self._ends[0]
            return vs[k] if e is None else vs[bisect.bisect_right(e, k)]
        for first, found in self._found:
            if first <= k < first + len(found):
                return found[k - first]
        # runs with repeats (counted), or too short to bisect with profit: one run
        if len(self._runs) * _SHORT > self._n or any(e is not None for e in self._ends):
            self._flatten()
            return self.at(k)
        return self._select(k)

    def _select(self, k: int) -> float:
        """The k-th smallest across runs of values each once: narrow a window per run
        [lo, hi) by pivots counted with C bisects until few values are left, then sort
        those (kept: later ranks among them are read off). The windows close in on the
        ranks within sqrt(n) of k, which the same cell's other order statistics around k
        (the percentile's interval) then find gathered. A pivot is the weighted median of
        the windows' own values at the aimed rank's place in them (close when the runs are
        alike), of their middles when that did not cut a quarter (which always does); a
        pivot landing within the ranks aimed at narrows on k alone from then on."""
        runs = [vs for vs in self._runs if vs]
        lo = [0] * len(runs)
        hi = [len(vs) for vs in runs]
        margin = math.isqrt(self._n)
        first, last = max(k - margin, 0), min(k + margin, self._n - 1)  # ranks kept
        # values before the windows: of runs whose window emptied (dropped) and sum(lo)
        dropped, below, left, towards, low_side = 0, 0, self._n, True, True
        while left > _GATHER + 2 * (last - first):
            if first == last:
                aim = k
            else:  # each side in turn, a little outside it
                aim = first - margin // 2 if low_side else last + margin // 2
                low_side = not low_side
            at = min(max((aim - below + 0.5) / left, 0.0), 1.0) if towards else 0.5
            pivot = _pivot(runs, lo, hi, at, every=not towards)
            le = list(map(bisect.bisect_right, runs, itertools.repeat(pivot), lo, hi))
            if dropped + sum(le) <= first:  # values <= pivot: all before the windows are
                lo = le
            else:
                lt = list(map(bisect.bisect_left, runs, itertools.repeat(pivot), lo, le))
                if dropped + sum(lt) > last:
                    hi = lt
                elif first == last:
                    return pivot  # k falls among the pivot's repeats
                else:  # within the ranks kept: aim at k alone
                    first = last = k
                    continue
            if any(map(operator.eq, lo, hi)):  # runs whose window emptied
                keep = [i for i, (a, b) in enumerate(zip(lo, hi, strict=True)) if a < b]
                dropped += sum(lo) - sum(lo[i] for i in keep)
                runs = [runs[i] for i in keep]
                lo = [lo[i] for i in keep]
                hi = [hi[i] for i in keep]
            below = dropped + sum(lo)
            now = sum(hi) - sum(lo)
            towards, left = now * 4 <= left * 3, now
        pool = sorted(
            itertools.chain.from_iterable(map(operator.getitem, runs, map(slice, lo, hi)))
        )
        self._found.append((below, pool))
        return pool[k - below]

    def _flatten(self) -> None:
        """The runs merged into one (sorted in C: ascending runs are Timsort's merge)."""
        if len(self._runs) <= 1:
            return
        if all(e is None for e in self._ends):
            values: list[float] = []
            for vs in self._runs:
                values += vs
            values.sort()
            self._runs, self._ends = [values], [None]
        else:
            pairs = sorted(p for vs, e in zip(self._runs, self._ends, strict=True)
                           for p in _pairs(vs, e))  # fmt: skip
            self._runs = [[v for v, _ in pairs]]
            self._ends = [list(itertools.accumulate(k for _, k in pairs))]
        self._found = []

    def at_most(self, cut: float) -> int:
        """How many values are <= cut."""
        n = 0
        for vs, e in zip(self._runs, self._ends, strict=True):
            i = bisect.bisect_right(vs, cut)
            n += i if e is None else (e[i - 1] if i else 0)
        return n

    def pairs(self) -> Iterable[tuple[float, int]]:
        """(value, count) ascending; a value repeated across runs may come more than once."""
        self._flatten()
        if not self._runs:
            return iter(())
        return _pairs(self._runs[0], self._ends[0])

    def expanded(self) -> list[float]:
        """Every value, as many times as it occurs, ascending."""
        self._flatten()
        if not self._runs:
            return []
        if self._ends[0] is None:
            return list(self._runs[0])
        return list(itertools.chain.from_iterable(itertools.repeat(v, k) for v, k in self.pairs()))

    def exact_mean(self) -> float | None:
        """The mean, its sum correctly rounded (math.fsum): the same whatever the order or
        grouping of the values."""
        n = self._n
        if not n:
            return None
        if len(self._runs) * _SHORT > n:  # one value a probe (raw rows): summed as one list
            self._flatten()
        runs = list(zip(self._runs, self._ends, strict=True))
        if sum(len(vs) for vs, _ in runs) * 4 <= n:  # repeats (a fixed uncertainty)
            counts: dict[float, int] = {}
            for vs, e in runs:
                for v, k in _pairs(vs, e):
                    counts[v] = counts.get(v, 0) + k
            if len(counts) * 4 <= n and all(map(math.isfinite, counts)):
                # the exact sum rounded once, as fsum rounds it (both correctly rounded)
                return float(sum((Fraction(v) * k for v, k in counts.items()), Fraction(0))) / n
        each = itertools.chain.from_iterable(
            vs if e is None else itertools.chain.from_iterable(
                itertools.repeat(v, k) for v, k in _pairs(vs, e))
            for vs, e in runs
        )  # fmt: skip
        return math.fsum(each) / n

    # As a Sequence: the values ascending, each as many times as it occurs.
    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return self.expanded()[index]
        return self.at(index + self._n if index < 0 else index)

    def __iter__(self) -> Iterator[float]:
        return iter(self.expanded())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ordered | list | tuple):
            return len(self) == len(other) and self.expanded() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ordered({len(self)} values in {len(self._runs)} runs)"


# Selection across runs (Ordered._select): sort what is left once this few values remain;
# runs averaging fewer values than _SHORT are merged into one instead.
_GATHER = 512
_SHORT = 16
_MARKS = 64  # windows a pivot is taken from (all of them when a pivot cut too little)


class Ones(Sequence[int]):
    """n counts of 1 (values each occurring once) without a list of them."""

    __slots__ = ("_n",)

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Ones: ...
    def __getitem__(self, index: int | slice) -> int | Ones:
        if isinstance(index, slice):
            return Ones(len(range(self._n)[index]))
        if not -self._n <= index < self._n:
            raise IndexError("Ones index out of range")
        return 1

    def __iter__(self) -> Iterator[int]:
        return itertools.repeat(1, self._n)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(other) == self._n and each_once(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ones({self._n})"


def each_once(counts: Sequence[int]) -> bool:
    """Whether every count (each >= 1) is 1, i.e. no value repeats: compared in C (a
    packed array as memory, a list by identity), not summed."""
    if isinstance(counts, Ones):
        return True
    if isinstance(counts, array):
        return counts == array(counts.typecode, (1,)) * len(counts)
    listed = counts if isinstance(counts, list | tuple) else list(counts)
    return listed.count(1) == len(listed)


def _pairs(values: Sequence[float], ends: Sequence[int] | None) -> Iterator[tuple[float, int]]:
    if ends is None:
        return zip(values, itertools.repeat(1))
    return zip(values, map(int.__sub__, ends, [0, *ends[:-1]]), strict=True)


def _pivot(
    runs: Sequence[Sequence[float]], lo: Sequence[int], hi: Sequence[int], at: float, every: bool
) -> float:
    """The weighted median (by size) of the windows' [lo, hi) own values at `at` (0..1):
    each stands for where the runs' value at `at` lies; of _MARKS windows spread over the
    runs unless `every`."""
    step = 1 if every or len(runs) <= _MARKS else len(runs) // _MARKS
    marks = sorted(
        (vs[a + int(at * (b - a - 1))], b - a)
        for vs, a, b in zip(runs[::step], lo[::step], hi[::step], strict=True)
        if a < b
    )
    goal = sum(w for _, w in marks) / 2
    seen = 0
    for value, w in marks:
        seen += w
        if seen >= goal:
            return value
    return marks[-1][0]


def _ordered(values: Sequence[float] | Ordered) -> Ordered:
    return values if isinstance(values, Ordered) else Ordered.of(values)


def percentile(values: Sequence[float] | Ordered, q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of the values; None when empty.

    The same definition as numpy's default ("linear"), written out so the offline
    verifier needs nothing but the standard library.
    """
    ordered = _ordered(values)
    if not len(ordered):
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    at_low, at_high = ordered.at(low), ordered.at(high)
    return at_low + (at_high - at_low) * (rank - low)


@functools.lru_cache(maxsize=65536)
def one_sided_p_below(successes: int, n: int, threshold: float) -> float:
    """p-value of H0 "true rate >= threshold" against H1 "below": small means a breach.

    Exact binomial lower tail P(X <= successes | n, threshold), computed in log space.
    """
    if n == 0:
        return 1.0
    if threshold >= 1.0:
        return 0.0 if successes < n else 1.0
    return _tail(n, threshold, 0, successes)


@functools.lru_cache(maxsize=65536)
def one_sided_p_above(successes: int, n: int, threshold: float) -> float:
    """p-value of H0 "true rate <= threshold" against H1 "above": small means the SLA is met.

    Exact binomial upper tail P(X >= successes | n, threshold), summed in log space over
    the n - successes + 1 terms (few when few probes were lost).
    """
    if n == 0 or successes <= 0:
        return 1.0
    if threshold >= 1.0:
        return 1.0
    if threshold <= 0.0:
        return 0.0
    return _tail(n, threshold, successes, n)


# exp() of anything below this is exactly 0.0 (the smallest subnormal is e^-744.4), with a
# wide margin for the rounding of the log terms: such a term adds exactly nothing to a sum.
_NOTHING = -800.0

# Tables of the values the terms are made of, lgamma(i) and i * log_p of the integers i,
# computed in blocks as first needed and kept: one lgamma call costs more than the rest
# of a term, and a report's tails (both tails of a cell, the bisections over neighbouring
# n, the same thresholds in every cell) read the same values again and again. A table
# holds the very floats math.lgamma and the product return, so every term keeps its bits.
_BLOCK = 1024
_BLOCKS_KEPT = 2048  # 16 MiB at most, then it starts over
_blocks: dict[tuple[float | None, int], array[float]] = {}
# The walk out from the mode computes its first batch of terms this many at a time.
_STEP = 32


def _block(times: float | None, b: int) -> array[float]:
    block = _blocks.get((times, b))
    if block is None:
        if len(_blocks) >= _BLOCKS_KEPT:
            _blocks.clear()
        base = b * _BLOCK
        if times is None:
            # lgamma(0) is a pole: its slot holds inf, which no term reads (k + 1 >= 1).
            block = array("d", [math.inf] if base == 0 else [])
            block.extend(map(math.lgamma, range(max(base, 1), base + _BLOCK)))
        else:
            ints = range(base, base + _BLOCK)
            block = array("d", map(operator.mul, ints, itertools.repeat(times)))
        _blocks[times, b] = block
    return block


def _table(times: float | None, start: int, stop: int) -> array[float]:
    """math.lgamma(i) (times None, 1 <= start) or i * times for i in range(start, stop)."""
    first, last = start // _BLOCK, (stop - 1) // _BLOCK
    if first == last:
        base = first * _BLOCK
        return _block(times, first)[start - base : stop - base]
    out = array("d")
    for b in range(first, last + 1):
        base = b * _BLOCK
        out.extend(_block(times, b)[max(start - base, 0) : stop - base])
    return out


def _log_combs(n: int, k0: int, k1: int) -> Iterator[float]:
    """_log_comb(n, k), lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) evaluated left to
    right, for each k in range(k0, k1) (0 <= k0 <= k1 <= n + 1), its parts from the tables,
    one operation at a time over the range in C: the very floats _log_comb gives."""
    terms = map(operator.sub, itertools.repeat(math.lgamma(n + 1)), _table(None, k0 + 1, k1 + 1))
    return map(operator.sub, terms, _table(None, n - k1 + 2, n - k0 + 2)[::-1])


def _log_pmfs(n: int, k0: int, k1: int, log_p: float, log_q: float) -> list[float]:
    """The log of the binomial pmf at each k in range(k0, k1), 0 <= k0 <= k1 <= n + 1: the
    one expression every tail and interval sums,
        lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * log_p + (n - k) * log_q,
    evaluated left to right as written (its parts from the tables), one operation at a
    time over the whole range in C."""
    add = operator.add
    terms = map(add, _log_combs(n, k0, k1), _table(log_p, k0, k1))
    return list(map(add, terms, _table(log_q, n - k1 + 1, n - k0 + 1)[::-1]))


def _span_terms(
    n: int,
    lo: int,
    hi: int,
    log_p: float,
    log_q: float,
    upward: bool = True,
    depth: float = _NOTHING,
) -> tuple[int, list[float]]:
    """(low, the log pmf of each k in [low, high]) for the k in [lo, hi] whose terms can
    count: outside [low, high] every log pmf is more than 800 below one inside (the pmf is
    log-concave: it falls away from its mode on both sides), so exp() of its distance to
    the largest term is exactly 0.0. Found by walking out from the mode (clamped to
    [lo, hi]) until the first term below that floor; O(sqrt(n)) terms instead of O(n).
    The walk takes its terms in growing batches; [low, high] is where a walk one term at a
    time stops, and each term is computed once for both the walk and the sum. Not
    `upward`: [low, m] only, for a caller that goes on upward by itself. `depth`: a
    shallower floor than -800, for a caller that bounds what the terms below it add."""
    m = min(max(int((n + 1) * math.exp(log_p)), lo), hi)
    if not 0 <= m <= n:
        raise ValueError("math domain error")  # lgamma's pole, as math.lgamma raises it
    mode = _log_pmfs(n, m, m + 1, log_p, log_q)
    floor = mode[0] + depth
    below: list[list[float]] = []  # batches walking down, each in ascending k
    low, step = m, _STEP
    while low > lo:
        start = max(low - step, lo, 0)
        if start == low:  # the next term down is at k = -1
            raise ValueError("math domain error")
        batch = _log_pmfs(n, start, low, log_p, log_q)
        if all(map(floor.__le__, batch)):
            below.append(batch)
            low, step = start, _next_step(batch, True, floor, step)
            continue
        kept = list(map(floor.__le__, batch))
        kept.reverse()
        cut = len(batch) - kept.index(False)  # just above the first k (walking down) below
        below.append(batch[cut:])
        low = start + cut
        break
    above: list[list[float]] = []
    high, step = m, _STEP
    while upward and high < hi:
        stop = min(high + step, hi, n) + 1
        if stop == high + 1:  # the next term up is at k = n + 1
            raise ValueError("math domain error")
        batch = _log_pmfs(n, high + 1, stop, log_p, log_q)
        if all(map(floor.__le__, batch)):
            above.append(batch)
            high = stop - 1
            step = _next_step(batch, False, floor, step)
            continue
        cut = list(map(floor.__le__, batch)).index(False)
        above.append(batch[:cut])
        break
    below.reverse()
    return low, list(itertools.chain(*below, mode, *above))


def _next_step(batch: list[float], downward: bool, floor: float, step: int) -> int:
    """How many more terms the walk likely takes to fall below `floor`: where a parabola
    through three terms of the last batch (its outer end, h and 2h terms inward) meets the
    floor. A guess that only sizes the next batch (a short one costs one more batch, a long
    one terms computed in vain); doubling when it is no guess at all."""
    h = (len(batch) - 1) // 2
    if h < 1:
        return step * 2
    if downward:  # ascending k: the outer end is the first
        outer, middle, inner = batch[0], batch[h], batch[2 * h]
    else:
        outer, middle, inner = batch[-1], batch[-1 - h], batch[-1 - 2 * h]
    bend = (inner - 2 * middle + outer) / (h * h)  # second difference per term
    fall = (middle - outer) / h - bend * h / 2  # drop per term at the outer end
    drop, a = outer - floor, -bend / 2
    if not (fall >= 0.0 and a >= 0.0 and fall + a > 0.0):
        return step * 2
    x = 2 * drop / (fall + math.sqrt(fall * fall + 4 * a * drop))
    return int(x * 1.02) + 8 if 0.0 <= x < 1e9 else step * 2


def _tail(n: int, threshold: float, lo: int, hi: int) -> float:
    """P(lo <= X <= hi) for X ~ binomial(n, threshold), summed in log space from the
    largest term. Identical to summing every term of [lo, hi] in order: the terms left
    out each add exactly 0.0."""
    log_p, log_q = math.log(threshold), math.log1p(-threshold)
    return _summed(_span_terms(n, lo, hi, log_p, log_q)[1])[0]


def _summed(terms: list[float]) -> tuple[float, float]:
    """(the probability these log pmf terms add up to, summed from the largest and at
    most 1.0; the largest term)."""
    top = max(terms)
    total = math.exp(top) * sum(map(math.exp, map(operator.sub, terms, itertools.repeat(top))))
    return min(1.0, total), top


# How far below the largest term `_tail_bounds` stops: exp(-40) = 4.2e-18 of the largest,
# about 9 standard deviations from the mode instead of 40.
_NEAR = -40.0


def _tail_bounds(n: int, threshold: float, lo: int, hi: int) -> tuple[float, float]:
    """(low, high) holding _tail(n, threshold, lo, hi), from the m terms within _NEAR of
    the largest. _tail sums the same terms (the very floats) and those down to -800: the
    log pmf is concave, so falling 40 over the short window's side means falling 800 within
    20 times that side, and _tail's terms are at most 20 (m + 2), each of those left out
    below exp(top + _NEAR). Each sum of its terms, rounded term by term, is within its
    count times 2**-53 of its exact value (at most 1 once scaled by exp(top), and clipped
    to 1.0). About 3e-11 wide for a month's cells: the tests and the counts to a decision
    compare with alpha, and reports print p-values to 9 digits, so where the bounds agree
    on those the whole sum is not needed."""
    log_p, log_q = math.log(threshold), math.log1p(-threshold)
    terms = _span_terms(n, lo, hi, log_p, log_q, depth=_NEAR)[1]
    short, top = _summed(terms)
    most = round(_NOTHING / _NEAR) * (len(terms) + 2)  # _tail's terms at most
    slack = most * math.exp(top + _NEAR) + (most + len(terms) + 4) * 2.0**-52
    return max(short - slack, 0.0), min(short + slack, 1.0)


def _p_exact(above: bool, successes: int, n: int, threshold: float) -> float:
    """one_sided_p_above (`above`) or one_sided_p_below(successes, n, threshold)."""
    return (one_sided_p_above if above else one_sided_p_below)(successes, n, threshold)


def _p_bounds(above: bool, successes: int, n: int, threshold: float) -> tuple[float, float]:
    """Bounds of _p_exact(above, successes, n, threshold): its value twice in the cases
    where it sums no tail."""
    if n == 0 or not 0.0 < threshold < 1.0 or (above and successes <= 0):
        p = _p_exact(above, successes, n, threshold)
        return p, p
    lo, hi = (successes, n) if above else (0, successes)
    return _tail_bounds(n, threshold, lo, hi)


def _p_under(above: bool, successes: int, n: int, threshold: float, alpha: float) -> bool:
    """Whether that p-value is below alpha: from its bounds where they agree, else exact."""
    low, high = _p_bounds(above, successes, n, threshold)
    if high < alpha or low >= alpha:
        return high < alpha
    return _p_exact(above, successes, n, threshold) < alpha


def sla_test(
    arrived: int, judged: int, threshold: float, alpha: float, digits: int = 9
) -> tuple[str, float]:
    """The exact one-sided tests of an arrival rate (judged >= 1): ("breach", P(X <=
    arrived)) when that is below alpha, else ("met", P(X >= arrived)) when that is, else
    ("undecided", the smaller of the two), for X ~ binomial(judged, threshold); the
    p-value rounded to `digits`. From the tails' bounds where they give the same verdict
    and rounded p-value (a month's cells each have their own counts, and a whole tail
    costs ~4x the terms), else from the tails summed whole: the same answer either way."""
    below, above = (_p_bounds(side, arrived, judged, threshold) for side in (False, True))
    got = _verdict(below, above, alpha, digits)
    if got is None:
        p_below, p_above = (_p_exact(side, arrived, judged, threshold) for side in (False, True))
        got = _verdict((p_below, p_below), (p_above, p_above), alpha, digits)
        assert got is not None  # exact values: nothing to straddle
    return got


def _verdict(
    below: tuple[float, float], above: tuple[float, float], alpha: float, digits: int
) -> tuple[str, float] | None:
    """sla_test's answer from (low, high) bounds of both p-values; None where they straddle
    alpha or a rounding boundary."""
    if below[1] < alpha:
        sla, p = "breach", below
    elif below[0] < alpha:
        return None
    elif above[1] < alpha:
        sla, p = "met", above
    elif above[0] < alpha:
        return None
    else:
        sla, p = "undecided", (min(below[0], above[0]), min(below[1], above[1]))
    low, high = round(p[0], digits), round(p[1], digits)
    return (sla, low) if low == high else None


def _smallest(passes: Callable[[int], bool], limit: int, guess: int = 1) -> int | None:
    """The smallest k in 1..limit with passes(k), for a monotone `passes`; None if none.
    Looked for from `guess` outwards (steps doubling), then bisected: the same k from any
    guess, found in fewer tests the closer the guess (each test is an exact tail)."""
    at = min(max(guess, 1), limit)
    step = 1
    if passes(at):  # passes(high) holds; down until a k that fails (or 0)
        high, low = at, at - 1
        while low > 0 and passes(low):
            high, step = low, step * 2
            low = max(high - step, 0)
    else:  # passes(low) fails; up until a k that passes (or the limit fails)
        low = at
        while True:
            if low >= limit:
                return None
            high = min(low + step, limit)
            if passes(high):
                break
            low, step = high, step * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if passes(mid) else (mid, high)
    return high


def _normal_guess(gap: float, per_probe: float, threshold: float, alpha: float, n: int) -> int:
    """Where `_smallest` starts looking for a count to a decision: the k at which the
    normal approximation first decides, the root of (gap + per_probe * k)^2 = z^2 *
    threshold * (1 - threshold) * (n + k). 1 (doubling from 1) unless 0 < alpha < 0.5:
    tails near 1 round to 1.0 and back as k grows, so a large alpha's test is not
    monotone in floating point, and the k found would depend on where the search began."""
    if not 0.0 < alpha < 0.5:
        return 1
    spread = NormalDist().inv_cdf(1 - alpha) ** 2 * threshold * (1 - threshold)
    a = per_probe * per_probe
    b = 2 * gap * per_probe - spread
    c = gap * gap - spread * n
    disc = b * b - 4 * a * c
    if a <= 0 or disc < 0:
        return 1
    root = (-b + math.sqrt(disc)) / (2 * a)
    return int(root) + 1 if 0 <= root < 1e12 else 1


@functools.lru_cache(maxsize=4096)  # a report's breakdowns share cells of the same counts
def arrivals_to_confirm(
    arrived: int, judged: int, threshold: float, alpha: float = 0.05, limit: int = 10_000_000
) -> int | None:
    """How many more probes, every one arriving, the one-sided exact test needs to confirm
    "rate >= threshold": the smallest k >= 1 with P(X >= arrived + k | judged + k) < alpha.

    Exact, not an approximation: each further arrival can only lower that tail
    (P(X_{n+1} >= a+1) = p·P(X_n >= a) + q·P(X_n >= a+1) <= P(X_n >= a)), so the search is a
    bisection. None when no number of arrivals does it (a threshold of 100 %) within `limit`.
    """
    if threshold >= 1.0:
        return None
    guess = _normal_guess(arrived - threshold * judged, 1 - threshold, threshold, alpha, judged)
    return _smallest(
        lambda k: _p_under(True, arrived + k, judged + k, threshold, alpha), limit, guess
    )


@functools.lru_cache(maxsize=4096)
def losses_to_breach(
    arrived: int, judged: int, threshold: float, alpha: float = 0.05, limit: int = 10_000_000
) -> int | None:
    """How many more probes, every one lost, the test needs to confirm a breach
    ("rate < threshold"): the smallest m >= 1 with P(X <= arrived | judged + m) < alpha.
    None when no number of losses does it (a threshold of 0) within `limit`."""
    if threshold <= 0.0:
        return None
    guess = _normal_guess(threshold * judged - arrived, threshold, threshold, alpha, judged)
    return _smallest(lambda m: _p_under(False, arrived, judged + m, threshold, alpha), limit, guess)


def quantile_ci(
    values: Sequence[float] | Ordered, q: float, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Distribution-free confidence interval of the q-th percentile from order statistics.

    The ranks come from the binomial(n, q/100) distribution; None when n is too small for
    the requested confidence (the interval would be unbounded).
    """
    ordered = _ordered(values)
    ranks = _quantile_ranks(len(ordered), q, confidence)
    if ranks is None:
        return None
    return ordered.at(ranks[0] - 1), ordered.at(ranks[1] - 1)


@functools.lru_cache(maxsize=4096)  # the same n in many cells of a report's breakdowns
def _quantile_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """The 1-based order statistics bounding the q-th percentile of n values: by their
    definition, the binomial(n, q/100) cdf summed term by term from the first k whose pmf
    is not exactly 0.0 (`_ranks_summed`); the same ranks, found from fewer terms where
    that is sure to give them (`_ranks_near`)."""
    if n == 0:
        return None
    p = q / 100.0
    tail = (1 - confidence) / 2
    if p <= 0.0 or p >= 1.0:
        return None
    log_p, log_q = math.log(p), math.log1p(-p)
    ranks = _ranks_near(n, p, tail, log_p, log_q)
    if ranks is None:
        # Below the first k whose pmf is not exactly 0.0 the cdf stays 0.0: start there.
        # pmf in log space: math.comb(n, k) * p**k overflows for a few thousand values
        k, terms = _span_terms(n, 0, n, log_p, log_q, upward=False)
        low_rank, high_rank, _ = _ranks_summed(n, k, terms, tail, log_p, log_q)
    else:
        low_rank, high_rank = ranks
    if low_rank is None or low_rank < 1 or high_rank is None or high_rank > n:
        return None
    return low_rank, high_rank


def _ranks_summed(
    n: int, k: int, terms: list[float], tail: float, log_p: float, log_q: float
) -> tuple[int | None, int | None, tuple[float, float, float, float]]:
    """The cdf summed from 0.0 over the pmf of k, k + 1, ... (`terms`: the log pmf of the
    first few; more made as needed) until it reaches 1 - tail: the first k at which it
    exceeds tail (the lower rank: P(X < k) <= tail), the first k + 1 at which it reaches
    1 - tail (the upper rank; None: never), and the cdf just before and at each of the two
    crossings."""
    cdf = 0.0
    low_rank = high_rank = None
    sides = [0.0, 0.0, 0.0, 0.0]
    step = _STEP
    while terms:
        # cdf before this batch, then after each term, added one at a time in order as
        # `cdf += pmf` would
        cdfs = list(itertools.accumulate(map(math.exp, terms), initial=cdf))
        reached = _first(map((1 - tail).__le__, cdfs[1:]))  # cdf >= 1 - tail
        if low_rank is None:
            over = _first(map(tail.__lt__, cdfs[1 : None if reached is None else reached + 2]))
            if over is not None:
                low_rank, sides[0:2] = k + over, cdfs[over : over + 2]
        if reached is not None:
            high_rank, sides[2:4] = k + reached + 1, cdfs[reached : reached + 2]
            break
        k, cdf = k + len(terms), cdfs[-1]
        terms = _log_pmfs(n, k, min(k + step, n + 1), log_p, log_q)
        step *= 2
    return low_rank, high_rank, (sides[0], sides[1], sides[2], sides[3])


# Where a binomial cdf may start (`_ranks_near`): below a k whose Chernoff bound
# exp(-n * D(k/n || p)) is under e^-36 (2.3e-16), at most that much of the mass lies.
_CHERNOFF = 36.0


def _negligible_below(n: int, p: float) -> int:
    """The largest k < n * p (0 if none) with n * D(k / n || p) >= _CHERNOFF: P(X < k) <=
    P(X <= k) <= exp(-n * D) (Chernoff) for X ~ binomial(n, p); D is the Kullback-Leibler
    divergence of Bernoulli(k / n) from Bernoulli(p), falling as k rises to n * p."""

    def far(k: int) -> bool:
        a = k / n
        if k == 0:
            return -n * math.log1p(-p) >= _CHERNOFF
        return n * (a * math.log(a / p) + (1 - a) * math.log((1 - a) / (1 - p))) >= _CHERNOFF

    lo, hi = 0, math.ceil(n * p) - 1  # far(lo) is asked first; hi: the largest k < n * p
    if hi < 0 or not far(lo):
        return 0
    while lo < hi:  # far(lo) holds; the answer is in [lo, hi]
        mid = (lo + hi + 1) // 2
        if far(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _ranks_near(
    n: int, p: float, tail: float, log_p: float, log_q: float, margin: float | None = None
) -> tuple[int | None, int | None] | None:
    """The ranks `_ranks_summed` gives from the first k whose pmf is not 0.0, found from
    the sum started where at most e^-36 of the mass lies below (`_negligible_below`:
    ~8.5 standard deviations below the mean, where the definition starts at ~38): this sum
    differs from the definition's by at most that mass plus both sums' rounding (at most
    (n + 1) * 2^-53 each, the terms being the same floats), so where its cdf is farther
    than `margin` (that bound) from each threshold on both sides of each crossing, the
    definition's crosses at the same k. None where nothing is skipped or that cannot be
    told (a cdf that close to a threshold): the definition is then summed."""
    start = _negligible_below(n, p)
    if start <= 0:
        return None
    terms = _log_pmfs(n, start, min(start + _STEP, n + 1), log_p, log_q)
    low_rank, high_rank, (below, at, before, reached) = _ranks_summed(
        n, start, terms, tail, log_p, log_q
    )
    if low_rank is None or high_rank is None:
        return None
    if margin is None:  # twice the mass skipped, for the rounding of its bound
        margin = 2 * math.exp(-_CHERNOFF) + (n + 2) * 2.0**-52
    sure = (below <= tail - margin and at > tail + margin
            and before < 1 - tail - margin and reached >= 1 - tail + margin)  # fmt: skip
    return (low_rank, high_rank) if sure else None


def _first(flags: Iterable[bool]) -> int | None:
    """The index of the first true flag; None if none."""
    return next(itertools.compress(itertools.count(), flags), None)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_p(a: int, n1: int, b: int, n2: int) -> float:
    """Two-sided Fisher exact test of a/n1 against b/n2: the probability, with the margins
    fixed, of a table no more likely than the observed one."""
    total, k = n1 + n2, a + b
    lo, hi = max(0, k - n2), min(k, n1)

    def log_pmf(x: int) -> float:
        return _log_comb(n1, x) + _log_comb(n2, k - x) - _log_comb(total, k)

    observed = log_pmf(a)
    p = sum(math.exp(lp) for x in range(lo, hi + 1) if (lp := log_pmf(x)) <= observed + 1e-9)
    return min(1.0, p)


def two_proportion_test(a: int, n1: int, b: int, n2: int) -> tuple[float, str]:
    """(two-sided p-value, method) for H0 "the same rate" between a/n1 and b/n2.

    The pooled z-test when every expected cell count is at least 5, otherwise Fisher's
    exact test (arrival rates near 100 % leave few failures: the normal approximation
    would be wrong there). p = 1 when either side has no data."""
    if n1 <= 0 or n2 <= 0:
        return 1.0, "no_data"
    pooled = (a + b) / (n1 + n2)
    expected = (n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if min(expected) < 5:
        return fisher_exact_p(a, n1, b, n2), "fisher_exact"
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (a / n1 - b / n2) / se
    return min(1.0, 2 * (1 - NormalDist().cdf(abs(z)))), "z_test"


def quantile_test(
    first: Sequence[float] | Ordered, second: Sequence[float] | Ordered, q: float
) -> tuple[float, str] | None:
    """(two-sided p-value, method) for H0 "the same q-th percentile" of two samples: Mood's
    median test generalised to any quantile. Both samples are split at the pooled sample's
    q-th percentile and the shares at or below it compared with `two_proportion_test`.
    None when either sample is empty."""
    a, b = _ordered(first), _ordered(second)
    if not len(a) or not len(b):
        return None
    cut = percentile(Ordered.union([a, b]), q)
    assert cut is not None
    p, method = two_proportion_test(a.at_most(cut), len(a), b.at_most(cut), len(b))
    return p, f"quantile_split_{method}"


def p_better(s1: int, n1: int, s2: int, n2: int) -> float:
    """Confidence that proportion 1 truly exceeds proportion 2: P(p1 > p2) under the normal
    approximation of the difference, each rate shrunk by one success and one failure
    (Agresti-Caffo), so 20/20 against 19/20 is not a certainty. Used by routing advice."""
    a1, a2 = (s1 + 1) / (n1 + 2), (s2 + 1) / (n2 + 2)
    se = math.sqrt(a1 * (1 - a1) / (n1 + 2) + a2 * (1 - a2) / (n2 + 2))
    return NormalDist().cdf((a1 - a2) / se)


def fisher_greater_p(a: int, n1: int, b: int, n2: int) -> float:
    """One-sided Fisher exact test of H1 "rate 1 > rate 2": P(X >= a) for the hypergeometric
    count of successes in the first group, with both margins fixed."""
    total, k = n1 + n2, a + b
    hi = min(k, n1)
    if n1 <= 0 or n2 <= 0:
        return 1.0
    log_total = _log_comb(total, k)

    def log_pmfs(x0: int, x1: int) -> list[float]:
        return _fisher_log_pmfs(n1, n2, k, log_total, x0, x1)

    # Summed from a up, as every term in order would be, but without the terms whose exp()
    # is exactly 0.0 (adding them changes nothing): the pmf is log-concave, so those lie
    # beyond the ones walked out from its mode on either side. O(sqrt n) terms, not O(n),
    # computed _STEP at a time; each is the term log_pmf(x) would give, summed in order.
    mode = min(max((k + 1) * (n1 + 1) // (total + 2), a), hi)
    start = mode
    while start > a:  # down to the first term (from the mode) that adds nothing
        lo = max(a, start - _STEP)
        below = [i for i, t in enumerate(log_pmfs(lo, start)) if t < _NOTHING]
        if below:
            start = lo + below[-1] + 1
            break
        start = lo
    p: float = 0  # an int until the first term, as sum() starts
    x = start
    while x <= hi:
        for term in log_pmfs(x, min(x + 2 * _STEP, hi + 1)):
            if term < _NOTHING and x > mode:
                return min(1.0, p)
            p += math.exp(term)
            x += 1
    return min(1.0, p)


def _fisher_log_pmfs(n1: int, n2: int, k: int, log_total: float, x0: int, x1: int) -> list[float]:
    """The hypergeometric log pmf at each x in range(x0, x1) (within the support), the
    expression _log_comb(n1, x) + _log_comb(n2, k - x) - log_total evaluated as written —
    (lgamma(n1 + 1) - lgamma(x + 1) - lgamma(n1 - x + 1)) + (lgamma(n2 + 1)
    - lgamma(k - x + 1) - lgamma(n2 - k + x + 1)) - log_total — its parts from the lgamma
    tables, one operation at a time over the range in C: the same floats (a month's SIM
    outliers: 125,000 terms of 6 lgamma calls each)."""
    second = list(_log_combs(n2, k - x1 + 1, k - x0 + 1))[::-1]  # k - x for x ascending
    terms = map(operator.add, _log_combs(n1, x0, x1), second)
    return list(map(operator.sub, terms, itertools.repeat(log_total)))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): reject H_i at level alpha
    when its adjusted p < alpha; controls the family-wise error rate for any dependence."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
