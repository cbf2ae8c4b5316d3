"""The export streams: records a window of planned time at a time (iter_records) are the
records of the whole period, in the same order, and write_bundle writes them to a file as
they come into a bundle that verifies."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.evidence.bundle import build_bundle, write_bundle
from collector.evidence.records import collect_records, iter_records
from collector.evidence.signatures import key_files, signers_of
from collector.evidence.verify import verify_bundle
from collector.ledger import open_ledger
from tests.collector.reports.world import NS, T0

KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def test_windows_give_the_records_of_the_whole_period(world: Path, tmp_path: Path) -> None:
    url = next(line.split('"')[1] for line in world.read_text().splitlines() if "url" in line)
    ledger = open_ledger(url)
    try:
        since, until = T0, T0 + 86400 * NS
        whole, _ = collect_records(ledger, vendor="acme", since_ns=since, until_ns=until)
        steps: list[tuple[int, int]] = []
        windows = list(
            iter_records(ledger, vendor="acme", since_ns=since, until_ns=until,
                         window_ns=3600 * NS, progress=lambda i, n: steps.append((i, n)))
        )  # fmt: skip
        assert len(whole) > 5 and windows == whole
        assert steps == [(i, 24) for i in range(1, 25)]
        path = tmp_path / "b.zip"
        keys = key_files(ledger.agent_keys(sorted(signers_of(whole))), None)
        kw = dict(signing_key=KEY, vendor="acme", since="s", until="u",
                  software_version="v", created_at="c", extra_files=keys)  # fmt: skip
        with path.open("wb") as sink:
            written = write_bundle(sink, iter(windows), **kw)  # type: ignore[arg-type]
        assert written.records == len(whole) == len(written.judged)
        streamed = verify_bundle(path.read_bytes(), public_key_pem=PUB)
        in_memory = verify_bundle(build_bundle(whole, **kw), public_key_pem=PUB)  # type: ignore[arg-type]
        assert streamed.ok and in_memory.ok, streamed.problems
        assert streamed.record_count == in_memory.record_count == len(whole)
        assert streamed.verdicts_recomputed
    finally:
        ledger.close()
