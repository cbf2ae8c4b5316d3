"""The built wheel is what a field host installs: profiles as package data, SPDX license.

Builds the wheel from a copy of the sources (so nothing is written into the checkout),
installs it without dependencies into a fresh virtualenv and imports from there, away from
the checkout and its editable install.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import venv
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = (
    "agent",
    "collector",
    "protos",
    "firmware-config",
    "pyproject.toml",
    "README.md",
    "LICENSE",
)


def _build_wheel(tmp: pathlib.Path) -> pathlib.Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, src / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    out = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        cwd=tmp,
    )
    (wheel,) = out.glob("smsprobe-*.whl")
    return wheel


def test_wheel_ships_profiles_as_package_data_and_declares_the_license(
    tmp_path: pathlib.Path,
) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(
        n.removeprefix("agent/modem/firmware_config/")
        for n in names
        if n.startswith("agent/modem/firmware_config/")
    )
    in_repo = sorted(p.name for p in (ROOT / "firmware-config").iterdir())
    assert shipped == in_repo
    assert not [n for n in names if "/data/" in n], "no data-files outside the package"
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    site = next((env / "lib").glob("python3.*/site-packages"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import json; from agent.modem.profiles import DEFAULT_PROFILE_DIR, load_profiles;"
        "print(json.dumps([str(DEFAULT_PROFILE_DIR), sorted(load_profiles())]))"
    )
    run = subprocess.run(
        [str(env / "bin" / "python"), "-I", "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    directory, profiles = json.loads(run.stdout)
    assert pathlib.Path(directory).is_relative_to(site)
    assert profiles == sorted(p.stem for p in (ROOT / "firmware-config").glob("*.toml"))
