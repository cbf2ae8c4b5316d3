"""The uploader frames a Batch by concatenating the stored record bytes (agent/wire/serde.py
`upload_request_from_frames`): the request must be byte for byte what protobuf's
`SerializeToString(deterministic=True)` makes of the message built from the decoded records
(deterministic: map entries in key order, as the outbox stores and signs them), and the collector
must read the same records out of it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from smsprobe.v1 import agent_pb2

from agent.uplink.client import Uploader
from agent.uplink.model import AgentIdentity
from agent.wire.records import ReceivedSms, Record, SmsPart
from agent.wire.serde import (
    batch_to_proto,
    record_frame_head,
    record_frame_size,
    record_to_wire,
    upload_request_bytes,
)
from collector.quarantine import records_from_batch
from tests.agent.wire.test_serde import clocks, i64, records, u64

# Fields long enough for 2- and 3-byte length prefixes, any Unicode (non-ASCII, astral).
big_text = st.text(min_size=100, max_size=20_000)
big_sms = st.builds(
    ReceivedSms,
    parts=st.lists(
        st.builds(
            SmsPart,
            uuid=st.text(max_size=40),
            raw_pdu=st.binary(min_size=0, max_size=300),
            storage=st.sampled_from(["SM", "ME", ""]),
            index=st.integers(-1, 255),
            received_at_ns=i64,
        ),
        max_size=4,
    ).map(tuple),
    sender=st.text(max_size=30),
    text=big_text,
    encoding=st.sampled_from(["gsm7", "ucs2", "8bit", ""]),
)
big_records = st.builds(
    Record,
    uuid=st.text(max_size=40),
    seq=u64,
    persisted_at_ns=i64,
    clock=clocks,
    body=big_sms,
    modem_imei=st.text(max_size=20),
    iccid=st.text(max_size=22),
)
any_records = st.one_of(records, big_records)


def _built(
    recs: list[Record], batch_id: int, depth: int, oldest: int, backlog: bool
) -> agent_pb2.UploadRequest:
    return batch_to_proto(
        "agent-ü",
        batch_id,
        [agent_pb2.Record.FromString(record_to_wire(r).wire) for r in recs],
        outbox_depth=depth,
        oldest_pending_ns=oldest,
        backlog=backlog,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(any_records, max_size=8),
    u64,
    st.integers(0, 2**40),  # beyond uint32: clamped like batch_to_proto does
    i64,
    st.booleans(),
)
def test_framed_request_is_the_serialized_message_byte_for_byte(
    recs: list[Record], batch_id: int, depth: int, oldest: int, backlog: bool
) -> None:
    wires = [record_to_wire(r).wire for r in recs]
    data = upload_request_bytes(
        "agent-ü", batch_id, wires, outbox_depth=depth, oldest_pending_ns=oldest, backlog=backlog
    )
    built = _built(recs, batch_id, depth, oldest, backlog)
    # deterministic: map entries in key order, as the agent stores (and signs) its records
    assert data == built.SerializeToString(deterministic=True)
    # The collector reads the same records (and their exact bytes) out of both.
    got, bad = records_from_batch(agent_pb2.UploadRequest.FromString(data).batch)
    want, want_bad = records_from_batch(built.batch)
    assert got == want and bad == want_bad
    assert [agent_pb2.Record.FromString(r.raw) for r in got] == [
        agent_pb2.Record.FromString(w) for w in wires
    ]
    for w in wires:
        assert len(record_frame_head(w)) + len(w) == record_frame_size(w)


@settings(max_examples=60, deadline=None)
@given(st.lists(any_records, min_size=1, max_size=12), st.integers(200, 30_000), st.booleans())
def test_uploader_batches_are_the_serialized_messages_of_their_chunks(
    recs: list[Record], max_bytes: int, backlog: bool
) -> None:
    """The uploader's own framing, split by its byte budget: each request is the
    SerializeToString of a Batch of exactly its chunk's records, in order, none lost."""
    up = Uploader(_no_source(), lambda: None, AgentIdentity("agent-ü"))  # type: ignore[arg-type,return-value]
    up._max_bytes = max_bytes
    wires = [record_to_wire(r) for r in recs]
    requests = up._batch_requests(wires, 7, 11, backlog)
    seen: list[bytes] = []
    for i, (data, entry) in enumerate(requests, start=1):
        batch = agent_pb2.UploadRequest.FromString(data).batch
        n = len(batch.records)
        expect = batch_to_proto(
            "agent-ü",
            i,
            list(batch.records),
            outbox_depth=7,
            oldest_pending_ns=11,
            backlog=backlog,
        )
        assert data == expect.SerializeToString(deterministic=True)
        assert entry.batch_id == i and len(entry.seqs) == n
        seen += [r.SerializeToString(deterministic=True) for r in batch.records]
        # A chunk holds more than one record only when they fit the budget together.
        if n > 1:
            assert batch.ByteSize() - _empty_size(batch) <= max_bytes
    assert seen == [w.wire for w in wires]
    assert [s for _, e in requests for s in e.seqs] == [w.seq for w in wires]


def _empty_size(batch: agent_pb2.Batch) -> int:
    head = agent_pb2.Batch()
    head.CopyFrom(batch)
    del head.records[:]
    return head.ByteSize()


def _no_source() -> object:
    class NoSource:  # a stand-in: _batch_requests never reads the outbox
        def last_seq(self) -> int:
            return 0

    return NoSource()
