"""The one WHERE builder of the ledger's queries (collector/ledger/sql/query.py), pure."""

from __future__ import annotations

from collector.ledger.sql.query import CHUNK, Where, chunks, marks


def test_no_filter_is_no_where_clause() -> None:
    where = Where().maybe("agent_id = ?", None).when(False, "final = 0")
    assert (str(where), where.params) == ("", [])


def test_filters_given_are_anded_with_their_parameters_in_order() -> None:
    where = (
        Where()
        .add("at_ns >= ?", 5)
        .maybe("at_ns < ?", None)  # not given: left out, no parameter
        .maybe("agent_id = ?", "a1")
        .when(True, "final = 0")
        .among("probe_id", ["p1", "p2"])
    )
    assert str(where) == " WHERE at_ns >= ? AND agent_id = ? AND final = 0 AND probe_id IN (?,?)"
    assert where.params == [5, "a1", "p1", "p2"]


def test_zero_and_empty_string_are_filters_not_absent_ones() -> None:
    where = Where().maybe("seq = ?", 0).maybe("vendor = ?", "")
    assert (str(where), where.params) == (" WHERE seq = ? AND vendor = ?", [0, ""])


def test_in_lists_are_chunked_within_the_parameter_limit() -> None:
    items = list(range(2 * CHUNK + 1))
    pieces = list(chunks(items))
    assert [len(p) for p in pieces] == [CHUNK, CHUNK, 1]
    assert [x for p in pieces for x in p] == items
    assert marks(3) == "?,?,?"
