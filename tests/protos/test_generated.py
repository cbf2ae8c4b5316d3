"""The generated gRPC code is committed; it must match what protoc makes of the .proto now."""

from __future__ import annotations

import filecmp
import pathlib
import re
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


def _pyproject_requirements() -> dict[str, str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    found: dict[str, str] = {}
    for req in reqs:
        name = re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0]
        found[name] = req.removeprefix(name)
    return found


def test_dependency_floors_are_what_the_generated_code_asserts() -> None:
    """`pip install 'smsprobe[agent]'` must not resolve versions the generated code refuses."""
    generated = ROOT / "protos" / "python" / "smsprobe" / "v1"
    grpc_src = (generated / "agent_pb2_grpc.py").read_text()
    grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([\d.]+)'", grpc_src)
    pb2_src = (generated / "agent_pb2.py").read_text()
    pb_version = re.search(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*"
        r"(\d+),\s*(\d+),\s*(\d+),",
        pb2_src,
    )
    assert grpc_version and pb_version
    reqs = _pyproject_requirements()
    assert reqs["grpcio"] == f">={grpc_version[1]}"
    assert reqs["protobuf"] == ">=" + ".".join(pb_version.groups())
    # The generator is pinned to the version that made the committed files.
    assert reqs["grpcio-tools"] == f"=={grpc_version[1]}"
