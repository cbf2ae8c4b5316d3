"""Route groups (when the buyer fails over, when it comes back, config errors by key) and
routing advice (which vendor, with what confidence; a confident change is pending until
taken)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.common.tomlconfig import ConfigError, Table
from collector.channels.advice import AdviceWatch, advise
from collector.channels.routes import RouteBook, RouteGroup, parse_routes
from collector.channels.switchover import episodes
from collector.ledger.channels import FailoverSend
from collector.reports.figures import JudgedProbe

NS = 1_000_000_000
T = 1_800_000_000 * NS
GROUP = RouteGroup("otp", ("verification_code",), "cheap", "acme", degraded_after=2)


def probe(pid: str, vendor: str, at_s: float, outcome: str, **kw: Any) -> JudgedProbe:
    values: dict[str, Any] = dict(
        probe_id=pid, vendor=vendor, carrier="china_unicom", region="", profile="verification_code",
        band="", submitted_at_ns=T + int(at_s * NS), accepted=outcome != "rejected",
        outcome=outcome, dlr="consistent", dlr_claim="none", content="intact",
        latency_s=2.0 if outcome in ("delivered", "late") else None,
    )  # fmt: skip
    values.update(kw)
    return JudgedProbe(**values)


def test_failover_starts_after_consecutive_failures_and_ends_on_an_on_time_arrival() -> None:
    book = RouteBook([GROUP], deadline_s=15)
    history = [probe("1", "cheap", 0, "delivered"), probe("2", "cheap", 10, "lost")]
    assert book.refresh(history, T + 60 * NS) == (set(), set())  # one failure is not enough
    # a probe still pending past the deadline counts as failed; one within it says nothing
    history += [probe("3", "cheap", 20, "pending"), probe("4", "cheap", 55, "pending")]
    started, _ = book.refresh(history, T + 60 * NS)
    assert started == {("otp", "china_unicom")}
    assert book.backup_for("cheap", "china_unicom", "verification_code") == GROUP
    assert book.backup_for("cheap", "china_unicom", "notification") is None  # not in the group
    assert book.backup_for("cheap", "china_mobile", "verification_code") is None
    history += [probe("5", "cheap", 70, "delivered")]
    assert book.refresh(history, T + 80 * NS) == (set(), {("otp", "china_unicom")})
    # a refusal for its content is no route failure
    content = {"6": "rejected:template", "7": "rejected:template"}
    history += [probe("6", "cheap", 90, "rejected"), probe("7", "cheap", 95, "rejected")]
    assert book.refresh(history, T + 100 * NS, content) == (set(), set())


def test_the_buyers_failover_is_measured_from_the_backups_first_on_time_arrival() -> None:
    own = [probe("a", "cheap", 0, "delivered"), probe("b", "cheap", 10, "lost"),
           probe("c", "cheap", 20, "lost"), probe("d", "cheap", 30, "lost"),
           probe("e", "cheap", 60, "delivered")]  # fmt: skip
    backup = [probe("x", "acme", 25, "lost"), probe("y", "acme", 31, "delivered")]
    sends = [FailoverSend(p.probe_id, "otp", "cheap", "acme", "china_unicom",
                          "verification_code", p.submitted_at_ns) for p in backup]  # fmt: skip
    (e,) = [e for e in episodes(own + backup, [], sends) if e.vendor == "cheap"]
    assert (e.failed, e.failover_vendor, e.failover_sends) == (3, "acme", 2)
    assert e.failover_s == pytest.approx(31 + 2.0 - 10)  # y arrived 2 s after its submit
    assert e.switch_over_s == pytest.approx(60 + 2.0 - 10)
    assert e.bounds_s == pytest.approx((20.0, 60.0))
    # the failover sends are not the backup's own route: no acme episode from them
    assert [x.vendor for x in episodes(own + backup, [], sends)] == ["cheap"]


def test_route_config_errors_name_the_key() -> None:
    def parse(**kw: Any) -> Any:
        table = {"name": "otp", "profiles": ["verification_code"], "primary": "cheap",
                 "backup": "acme", **kw}  # fmt: skip
        t = Table({"routes": [table]}, file="c.toml", path="probes")
        probed = {"cheap": ["verification_code", "link"], "acme": ["verification_code"]}
        return parse_routes(t.get_tables("routes"), probed)

    assert parse()[0] == RouteGroup("otp", ("verification_code",), "cheap", "acme")
    for kw, key in (({"backup": "nobody"}, "backup"), ({"profiles": ["link"]}, "profiles"),
                    ({"backup": "cheap"}, "backup"), ({"extra": 1}, "extra")):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            parse(**kw)
        assert err.value.key_path == f"probes.routes[0].{key}"


def test_advice_ranks_by_the_lower_bound_and_says_how_sure() -> None:
    probes = [probe(f"a{i}", "acme", i, "delivered") for i in range(40)]
    probes += [probe(f"c{i}", "cheap", i, "lost" if i % 4 == 0 else "delivered") for i in range(40)]
    probes += [probe("n1", "new", 1, "delivered")]  # 1/1: a perfect rate, no evidence
    (a,) = advise(probes, since_ns=T, until_ns=T + 100 * NS)
    assert a.vendor == "acme"
    assert [c.vendor for c in a.candidates] == ["acme", "cheap", "new"]
    assert a.confidence is not None and a.confidence > 0.99  # 40/40 against 30/40
    close = [probe(f"a{i}", "acme", i, "delivered") for i in range(5)]
    close += [probe(f"c{i}", "cheap", i, "delivered" if i else "lost") for i in range(5)]
    (b,) = advise(close, since_ns=T, until_ns=T + 100 * NS)
    assert b.vendor == "acme" and b.confidence is not None and 0.5 < b.confidence < 0.9

    watch = AdviceWatch(min_confidence=0.9)
    changes, agreeing = watch.changes([b])  # the first advice is taken as in force
    assert (changes, agreeing) == ([], {("china_unicom", "verification_code")})
    flipped = [probe(f"c{i}", "cheap", i, "delivered") for i in range(40)]
    flipped += [probe(f"a{i}", "acme", i, "lost" if i % 3 == 0 else "delivered") for i in range(40)]
    (c,) = advise(flipped, since_ns=T, until_ns=T + 100 * NS)
    changes, agreeing = watch.changes([c])
    assert [(x.from_vendor, x.to_vendor) for x in changes] == [("acme", "cheap")] and not agreeing
    watch.settle("china_unicom", "verification_code", "cheap")
    assert watch.changes([c]) == ([], {("china_unicom", "verification_code")})
