"""The generated gRPC code is committed; it must match what protoc makes of the .proto now."""

from __future__ import annotations

import filecmp
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_code_is_current(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
    )
    committed = ROOT / "protos" / "python" / "smsprobe" / "v1"
    fresh = tmp_path / "smsprobe" / "v1"
    names = sorted(p.name for p in fresh.glob("*.py*"))
    assert names, "protoc produced nothing"
    stale = [n for n in names if not filecmp.cmp(fresh / n, committed / n, shallow=False)]
    assert not stale, f"regenerate with `make protos`: stale {stale}"


def test_package_matches_path() -> None:
    from smsprobe.v1 import agent_pb2

    assert agent_pb2.DESCRIPTOR.package == "smsprobe.v1"
    assert agent_pb2.DESCRIPTOR.name == "smsprobe/v1/agent.proto"
    # Every time field is named for its unit (the contract's rule).
    for message in agent_pb2.DESCRIPTOR.message_types_by_name.values():
        for field in message.fields:
            if field.name.endswith(("_at", "_time")):
                raise AssertionError(f"{message.name}.{field.name}: time fields end in _ns")
