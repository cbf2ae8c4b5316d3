"""The HTML report renders and prints in a real browser (headless Chromium).

Chromium must be installed (`make test` installs it): a missing browser fails this test.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from click.testing import CliRunner

from collector.reports.cli import report_command
from tests.collector.reports.world import SINCE, UNTIL

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,2000",
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed (apt-get install chromium; `make test` does it)"
    return path


def browse(tmp_path: Path, page: Path, action: str, name: str) -> None:
    profile = tmp_path / f"profile-{name}"
    profile.mkdir()
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", action, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG: enough to see ink."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_html_report_screenshots_and_prints(world: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        report_command,
        ["--config", str(world), "--since", SINCE, "--until", UNTIL, "--out", str(page)],
    )
    assert result.exit_code == 0, result.output

    shot = tmp_path / "shot.png"
    browse(tmp_path, page, f"--screenshot={shot}", "shot")
    width, height, raw = png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    # A blank page is one byte value repeated; tables and charts give many distinct bytes.
    assert len(set(raw)) > 50

    pdf = tmp_path / "report.pdf"
    browse(tmp_path, page, f"--print-to-pdf={pdf}", "pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 2  # pages + page tree
