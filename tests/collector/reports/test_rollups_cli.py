"""`smsprobe-collector rollups check|rebuild` on a ledger the report tests share
(tests/collector/reports/world.py), after a row was changed behind the ledger's back."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from collector.cli import main
from collector.ledger import open_ledger


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_check_finds_a_hand_edit_and_rebuild_repairs_it(world: Path) -> None:
    code, out = run("rollups", "check", "--config", str(world), "--json")
    clean = json.loads(out)
    assert code == 0 and clean["consistent"] and clean["count_rows"] > 0
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if "url" in line)
    ledger = open_ledger(url)
    try:
        with ledger._transaction() as tx:  # an edit no ledger method made
            tx.run("UPDATE probes SET band = 'edited' WHERE probe_id IN"
                   " (SELECT probe_id FROM probes ORDER BY probe_id LIMIT 1)")  # fmt: skip
    finally:
        ledger.close()
    code, out = run("rollups", "check", "--config", str(world))
    assert code == 1
    assert "kept 0, raw rows give 1" in out and "kept 1, raw rows give 0" in out
    code, out = run("rollups", "rebuild", "--config", str(world))
    assert code == 0 and out.startswith("rebuilt ")
    code, out = run("rollups", "check", "--config", str(world), "--json")
    assert code == 0 and json.loads(out)["differences"] == []


def test_a_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[ledger]\nurl = 5\n")
    code, out = run("rollups", "check", "--config", str(bad))
    assert code == 2 and "ledger.url" in out


def local_offsets(world: Path) -> set[int | None]:
    """The zone offsets the packed days' values are stored per local day of (0021)."""
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if "url" in line)
    ledger = open_ledger(url)
    try:
        with ledger._transaction(write=False) as tx:
            rows = tx.tuples("SELECT DISTINCT local_offset_ns FROM rollup_value_days")
    finally:
        ledger.close()
    return {None if o is None else int(o) for (o,) in rows}


def test_compact_packs_closed_days_check_compares_them_rebuild_repacks(world: Path) -> None:
    code, out = run("rollups", "compact", "--config", str(world))
    assert code == 0 and out.startswith("packed ") and not out.startswith("packed 0 ")
    assert local_offsets(world) == {8 * 3600 * 10**9}  # [reports] timezone: Asia/Shanghai
    code, out = run("rollups", "compact", "--config", str(world))
    assert (code, out) == (0, "packed 0 closed days\n")  # a day once, unless written since
    code, out = run("rollups", "check", "--config", str(world), "--json")
    clean = json.loads(out)
    assert code == 0 and clean["consistent"] and clean["value_blobs"] > 0
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if "url" in line)
    ledger = open_ledger(url)
    try:
        with ledger._transaction() as tx:  # a packed day edited behind the ledger's back
            tx.run("DELETE FROM rollup_value_days WHERE kind = 'latency'")
    finally:
        ledger.close()
    code, out = run("rollups", "check", "--config", str(world))
    assert code == 1 and "rollup_value_days" in out and ", raw rows give 1" in out
    code, out = run("rollups", "rebuild", "--config", str(world))
    assert code == 0 and "packed" in out and "packed 0 closed" not in out
    assert local_offsets(world) == {8 * 3600 * 10**9}
    code, out = run("rollups", "check", "--config", str(world), "--json")
    assert code == 0 and json.loads(out)["differences"] == []
