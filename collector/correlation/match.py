"""Attribute received SMS to probes by token, and DLRs to probes by vendor message id."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from collector.correlation.model import Arrival
from collector.correlation.tokens import TokenKind, find_tokens


@dataclass(slots=True)
class ArrivalMatch:
    by_probe: dict[str, list[Arrival]] = field(default_factory=lambda: defaultdict(list))
    unsolicited: list[Arrival] = field(default_factory=list)


def match_arrivals(
    arrivals: Iterable[tuple[str, Arrival]],
    outstanding: Mapping[str, Mapping[str, str]],
) -> ArrivalMatch:
    """Attribute each (sim, arrival) to the probe whose token it carries.

    `outstanding` maps a SIM key (its MSISDN) to {token: probe_id} of the probes sent to it
    within the correlation window. Tokens are unique per SIM within that window, so a token
    found in the text of an SMS that reached that SIM names exactly one probe. Anything else
    that reached a probe SIM is unsolicited (spam, a canary, an expired probe).
    """
    result = ArrivalMatch()
    for sim, arrival in arrivals:
        tokens = outstanding.get(sim, {})
        probe_id = next(
            (
                tokens[t]
                for kind in (TokenKind.ORDER, TokenKind.CODE)
                for t in find_tokens(arrival.text, kind)
                if t in tokens
            ),
            None,
        )
        if probe_id is None:
            result.unsolicited.append(arrival)
        else:
            result.by_probe[probe_id].append(arrival)
    return result


def _norm(message_id: str) -> str:
    return message_id.strip().strip("\x00").strip().lower().lstrip("0") or "0"


def _as_int(text: str, base: int) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


class IdRule(enum.Enum):
    """How a DLR's id relates to the id the vendor returned at submit (logged per match)."""

    SAME = "same"  # equal after stripping NULs, spaces, case and leading zeros
    HEX_SUBMIT_DEC_DLR = "hex_submit_dec_dlr"
    DEC_SUBMIT_HEX_DLR = "dec_submit_hex_dlr"


class DlrIndex:
    """(vendor, DLR message id) -> probe id, trying the id rules in order of confidence.

    Vendors give an id in hex at submit and in decimal in the receipt, or the other way
    round. A rule attributes a DLR only when it names exactly one probe; a DLR that is
    ambiguous under every rule stays unattributed rather than attributed wrongly. `rules`
    pins a vendor's format once known (the Kannel msg-id-type idea).
    """

    def __init__(self, rules: Mapping[str, Sequence[IdRule]] | None = None) -> None:
        self._rules = dict(rules or {})
        self._keys: dict[tuple[str, IdRule, str], set[str]] = defaultdict(set)

    def add(self, probe_id: str, vendor: str, message_ids: Iterable[str]) -> None:
        for mid in message_ids:
            norm = _norm(mid)
            self._keys[(vendor, IdRule.SAME, norm)].add(probe_id)
            if (value := _as_int(norm, 16)) is not None:
                self._keys[(vendor, IdRule.HEX_SUBMIT_DEC_DLR, str(value))].add(probe_id)
            if (value := _as_int(norm, 10)) is not None:
                self._keys[(vendor, IdRule.DEC_SUBMIT_HEX_DLR, format(value, "x"))].add(probe_id)

    def lookup(self, vendor: str, message_id: str) -> tuple[str, IdRule] | None:
        norm = _norm(message_id)
        for rule in self._rules.get(vendor, tuple(IdRule)):
            probes = self._keys.get((vendor, rule, norm), set())
            if len(probes) == 1:
                return next(iter(probes)), rule
        return None


def id_rule(submit_id: str, dlr_id: str) -> IdRule | None:
    """Which rule relates one DLR id to one submit id (None: not the same message)."""
    index = DlrIndex()
    index.add("", "", (submit_id,))
    found = index.lookup("", dlr_id)
    return None if found is None else found[1]
