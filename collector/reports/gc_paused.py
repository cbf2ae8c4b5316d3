"""Month-scale report steps with the cyclic garbage collector paused."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


def without_gc_pauses(step: Callable[_P, _R]) -> Callable[_P, _R]:
    """`step` with the cyclic garbage collector paused (and then as it was): reading a
    month's rollups and building its figures allocate hundreds of thousands of tracked
    containers (tallies, judged probes, rows) while as many live, so the collector's
    passes over them cost for nothing to free (what they make forms no cycles; any left
    are collected after). Measured on a real month (4.1 M probes): `load_tallies` 5.8 ->
    4.4 s, `build_report` ~3.2 -> 2.6-3.2 s."""

    @functools.wraps(step)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was = gc.isenabled()
        gc.disable()
        try:
            return step(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return paused
