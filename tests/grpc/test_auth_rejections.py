"""Identity is enforced on every call, over real TLS: wrong id, no certificate, revoked
certificate, certificate from another CA — all rejected, nothing ingested."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from smsprobe.v1 import agent_pb2

from agent.uplink.client import make_channel
from collector.ledger import open_ledger
from collector.metrics import CollectorMetrics
from tests.grpc.conftest import Pki
from tests.grpc.harness import in_process_collector, make_stub, modems_of

AGENT_A = "agent-a"


def _batch(agent_id: str, seq: int = 1) -> agent_pb2.UploadRequest:
    return agent_pb2.UploadRequest(
        batch=agent_pb2.Batch(
            agent_id=agent_id,
            batch_id=1,
            records=[
                agent_pb2.Record(
                    uuid=f"u-{agent_id}-{seq}",
                    seq=seq,
                    persisted_at_ns=1_700_000_000_000_000_000,
                    event=agent_pb2.AgentEvent(at_ns=1_700_000_000_000_000_000, kind="test"),
                )
            ],
        )
    )


def _register(agent_id: str) -> agent_pb2.RegisterRequest:
    return agent_pb2.RegisterRequest(agent_id=agent_id, last_seq=1)


async def _upload_one(stub: Any, req: agent_pb2.UploadRequest) -> None:
    call = stub.Upload()
    await call.write(req)
    await call.done_writing()
    async for _ in call:
        pass


def _channel(pki: Pki, address: str, cert_of: str) -> grpc.aio.Channel:
    p = pki.agents[cert_of]
    return make_channel(address, ca_cert=p.ca_cert, cert=p.cert, key=p.key)


def test_every_method_checks_the_certificate_id(pki: Pki, tmp_path: Path) -> None:
    metrics = CollectorMetrics()

    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        async with (
            in_process_collector(ledger, pki, metrics=metrics) as col,
            _channel(pki, col.address, AGENT_A) as ch,
        ):
            stub = make_stub(ch)
            calls = {
                "Register": stub.Register(_register("agent-b"), timeout=5),
                "SyncClock": stub.SyncClock(
                    agent_pb2.ClockRequest(agent_id="agent-b", t1_ns=1), timeout=5
                ),
                "Upload": _upload_one(stub, _batch("agent-b")),
            }
            for name, coro in calls.items():
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await coro
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
                assert "only report as itself" in (err.value.details() or ""), name
            with pytest.raises(grpc.aio.AioRpcError) as err:
                async for _ in stub.WatchConfig(
                    agent_pb2.ConfigRequest(agent_id="agent-b"), timeout=5
                ):
                    pass
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Legitimate as itself, then a batch claiming someone else mid-stream.
            await stub.Register(_register(AGENT_A), timeout=5)
            call = stub.Upload()
            await call.write(_batch(AGENT_A, 1))
            ack = await call.read()
            assert ack.ack.ingested == 1
            await call.write(_batch("agent-b", 2))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call.read()
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert ledger.record_count() == 1
        assert [a.agent_id for a in ledger.agents()] == [AGENT_A]
        ledger.close()

    asyncio.run(main())
    for method, n in (("Register", 1), ("SyncClock", 1), ("WatchConfig", 1), ("Upload", 2)):
        denied = metrics.registry.get_sample_value(
            "smsprobe_collector_rpc_errors_total", {"method": method, "code": "PERMISSION_DENIED"}
        )
        assert denied == n, method


def test_no_cert_other_ca_and_revoked_are_refused(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        async with in_process_collector(ledger, pki, deny=["agent-r"]) as col:
            no_cert = grpc.aio.secure_channel(
                col.address, grpc.ssl_channel_credentials(pki.ca.ca_cert.read_bytes())
            )
            other_ca = grpc.aio.secure_channel(
                col.address,
                grpc.ssl_channel_credentials(
                    pki.ca.ca_cert.read_bytes(),
                    pki.rogue.key.read_bytes(),
                    pki.rogue.cert.read_bytes(),
                ),
            )
            # Plaintext to a TLS port never gets an answer either.
            plaintext = grpc.aio.insecure_channel(col.address)
            for ch in (no_cert, other_ca, plaintext):
                async with ch:
                    stub = make_stub(ch)
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await stub.Register(_register(AGENT_A), timeout=5)
                    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            async with _channel(pki, col.address, "agent-r") as ch:
                stub = make_stub(ch)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.Register(_register("agent-r"), timeout=5)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "revoked" in (err.value.details() or "")
            # Revocation applies to an already-registered agent's next batch, too.
            async with _channel(pki, col.address, AGENT_A) as ch:
                stub = make_stub(ch)
                await stub.Register(_register(AGENT_A), timeout=5)
                col.auth.set_deny(["agent-r", AGENT_A])
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await _upload_one(stub, _batch(AGENT_A))
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert ledger.record_count() == 0
        assert {a.agent_id for a in ledger.agents()} == {AGENT_A}
        ledger.close()

    asyncio.run(main())


def test_malformed_and_oversized_rejected_while_another_agent_flows(
    pki: Pki, tmp_path: Path
) -> None:
    from agent.outbox.store import Outbox
    from tests.grpc.harness import fill, make_stub, uploader, wait_until

    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        outbox = Outbox(tmp_path / "b.db")
        modems = modems_of("agent-b", 2)
        async with in_process_collector(ledger, pki, max_message_bytes=64 * 1024) as col:
            good = uploader(pki, "agent-b", col.address, outbox, modems)
            stop = asyncio.Event()
            task = asyncio.create_task(good.run(stop))
            fill(outbox, 200, modems)
            good.notify()
            async with _channel(pki, col.address, AGENT_A) as ch:
                stub = make_stub(ch)
                await stub.Register(_register(AGENT_A), timeout=5)
                # Bytes that are not an UploadRequest: INVALID_ARGUMENT with a reason.
                raw = ch.stream_stream(
                    "/smsprobe.v1.AgentService/Upload",
                    request_serializer=lambda b: b,
                    response_deserializer=agent_pb2.UploadResponse.FromString,
                )
                call = raw()
                await call.write(b"\xff\xff\xff\xff garbage")
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call.read()
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "not a valid smsprobe.v1.UploadRequest" in (err.value.details() or "")
                # An envelope without a batch.
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await _upload_one(stub, agent_pb2.UploadRequest())
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                # Over the configured limit: RESOURCE_EXHAUSTED.
                big = _batch(AGENT_A)
                big.batch.records[0].event.detail = "x" * (100 * 1024)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await _upload_one(stub, big)
                assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                # Records that are wrong inside a valid envelope: quarantined, still acked.
                bad = _batch(AGENT_A, 1)
                bad.batch.records.add(uuid="no-body", seq=2, persisted_at_ns=1)
                bad.batch.records.add(
                    uuid="",
                    seq=3,
                    persisted_at_ns=1_700_000_000_000_000_000,
                    event=agent_pb2.AgentEvent(kind="x"),
                )
                call = stub.Upload()
                await call.write(bad)
                ack = (await call.read()).ack
                assert (ack.ingested, ack.quarantined) == (1, 2)
                assert {r.seq for r in ack.rejections} == {2, 3}
                await call.done_writing()
            await wait_until(lambda: outbox.depth() == 0, what="agent-b drained")
            fill(outbox, 50, modems)
            good.notify()
            await wait_until(lambda: outbox.depth() == 0, what="agent-b still flowing")
            stop.set()
            await asyncio.wait_for(task, 10)
            assert good.sessions == 1  # the other agent's stream was never disturbed
        assert len(ledger.quarantine("agent-a")) == 2
        assert ledger.record_count() == 251
        ledger.close()

    asyncio.run(main())


def test_revoked_uploader_backs_off_counts_errors_and_recovers_when_reinstated(
    pki: Pki, tmp_path: Path
) -> None:
    from agent.metrics import AgentMetrics
    from agent.outbox.store import Outbox
    from agent.uplink.client import UploadSettings
    from tests.grpc.harness import fill, uploader, wait_until

    metrics = AgentMetrics()

    def errors() -> float:
        value = metrics.registry.get_sample_value(
            "smsprobe_agent_grpc_errors_total", {"method": "session", "code": "UNAUTHENTICATED"}
        )
        return value or 0.0

    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        outbox = Outbox(tmp_path / "o.db")
        modems = modems_of(AGENT_A, 1)
        fill(outbox, 30, modems)
        async with in_process_collector(ledger, pki, deny=[AGENT_A]) as col:
            up = uploader(
                pki,
                AGENT_A,
                col.address,
                outbox,
                modems,
                settings=UploadSettings(fatal_retry_s=0.2, clock_samples_on_connect=1),
                metrics=metrics,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(up.run(stop))
            await wait_until(lambda: errors() >= 2, what="denied twice")
            assert outbox.depth() == 30 and ledger.record_count() == 0
            col.auth.set_deny([])  # the operator reinstates the agent
            await wait_until(lambda: outbox.depth() == 0, what="uploaded after reinstatement")
            stop.set()
            await asyncio.wait_for(task, 10)
        assert ledger.record_count() == 30
        reconnects = metrics.registry.get_sample_value("smsprobe_agent_reconnects_total")
        assert (reconnects or 0) >= 2
        ledger.close()

    asyncio.run(main())


def test_upload_before_register_is_a_failed_precondition(pki: Pki, tmp_path: Path) -> None:
    async def main() -> None:
        ledger = open_ledger(str(tmp_path / "l.db"))
        async with (
            in_process_collector(ledger, pki) as col,
            _channel(pki, col.address, "agent-c") as ch,
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await _upload_one(make_stub(ch), _batch("agent-c"))
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "Register" in (err.value.details() or "")
        assert ledger.record_count() == 0
        ledger.close()

    asyncio.run(main())
