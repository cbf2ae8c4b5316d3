"""The HTML report shows and prints well in a real browser (headless Chromium over CDP).

The report of the reports world (tests/collector/reports/world.py, with the channel
observations the collector keeps after judging) is opened on screen and in print
emulation, screenshotted (saved in the test's tmp dir), measured by script and printed
to PDF; the PDF is read back with pypdf. Chromium and the CJK font come from
`make servers`: a missing one fails.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
import unicodedata
import zlib
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from pypdf import PdfReader

from collector.channels.observe import ChannelObserver
from collector.ledger import open_ledger
from collector.reports.cli import report_command
from collector.reports.render import FONTS
from tests.collector.reports.cdp import Browser
from tests.collector.reports.world import SINCE, UNTIL

MM = 96 / 25.4  # CSS px per mm
# A4 landscape, 10 mm side margins (@page in render.CSS): the width a printed table has.
PRINT_WIDTH_PX = int((297 - 2 * 10) * MM)  # 1046
CJK_FONTS = [f.strip('"') for f in FONTS.split(",") if any(k in f for k in ("CJK", "Han",
             "PingFang", "YaHei", "WenQuanYi"))]  # fmt: skip

MEASURE = """(() => {
  const doc = document.documentElement;
  const tables = [...document.querySelectorAll('table')].map((t, i) => ({
    i, width: t.getBoundingClientRect().width, right: t.getBoundingClientRect().right,
    scroll: t.scrollWidth, visible: t.checkVisibility(),
    headers: [...t.querySelectorAll('thead th')].map(th => th.textContent),
  }));
  return {page: doc.clientWidth, scroll: doc.scrollWidth, tables};
})()"""


def png_size_and_ink(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct bytes of the raw scanlines of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def squash(text: str) -> str:
    """Text with every space and line break removed and ligatures undone (NFKC: "ﬁ" is
    "fi"): a header wrapped over lines in the PDF still reads as itself."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


async def inspect(page: Path, tmp: Path) -> dict[str, Any]:
    async with Browser(tmp) as b:
        await b.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        await b.open(page)
        screen = await b.screenshot(tmp / "screen.png")
        on_screen = await b.evaluate(MEASURE)
        fonts = await b.fonts_for("th.cjk-probe") if await b.evaluate(
            "(() => { const th = [...document.querySelectorAll('th')]"
            ".find(h => h.textContent.includes('到达率')); if (!th) return false;"
            " th.classList.add('cjk-probe'); return true; })()"
        ) else []  # fmt: skip
        await b.send("Emulation.setEmulatedMedia", media="print")
        await b.send("Emulation.setDeviceMetricsOverride", width=PRINT_WIDTH_PX, height=740,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        printed = await b.evaluate(MEASURE)
        print_shot = await b.screenshot(tmp / "print.png")
        await b.send("Emulation.clearDeviceMetricsOverride")
        pdf = await b.pdf(tmp / "report.pdf")
    return {"screen": screen, "on_screen": on_screen, "fonts": fonts, "printed": printed,
            "print_shot": print_shot, "pdf": pdf}  # fmt: skip


def test_html_report_shows_and_prints_on_a4_landscape(world: Path, tmp_path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path}/l.db")
    try:  # what the collector does after each judging pass
        assert ChannelObserver(ledger, time.time_ns).update() > 0
    finally:
        ledger.close()
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        report_command,
        ["--config", str(world), "--since", SINCE, "--until", UNTIL, "--out", str(page)],
    )
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "<section id=channels>" in html and "10086" in html

    seen = asyncio.run(inspect(page, tmp_path))

    width, height, ink = png_size_and_ink(seen["screen"])
    assert width == 1280 and height > 900 and ink > 50  # the whole page, not blank
    assert png_size_and_ink(seen["print_shot"])[0] == PRINT_WIDTH_PX

    # No table is wider than the page: on screen at 1280 px, and in print emulation at
    # the printable width of A4 landscape, where every detail table is laid out (open).
    for view, width_px in (("on_screen", 1280), ("printed", PRINT_WIDTH_PX)):
        m = seen[view]
        assert m["page"] == width_px and m["scroll"] <= m["page"], (view, m["scroll"])
        for t in m["tables"]:
            assert t["right"] <= m["page"] + 0.5 and t["scroll"] <= t["width"] + 1, (view, t)
    printed = seen["printed"]["tables"]
    # Detail tables are collapsed on screen and printed in full.
    assert sum(not t["visible"] for t in seen["on_screen"]["tables"]) >= 20
    assert all(t["visible"] for t in printed)
    headers = {h for t in printed for h in t["headers"]}
    assert len(printed) >= 20 and len(headers) >= 40

    # The PDF: A4 landscape pages, every column header of every table on some page.
    reader = PdfReader(tmp_path / "report.pdf")
    pages = reader.pages
    for p in pages:
        w, h = float(p.mediabox.width), float(p.mediabox.height)
        assert abs(w - 841.9) < 2 and abs(h - 595.3) < 2, (w, h)  # 297 × 210 mm in pt
    text = squash("".join(p.extract_text() for p in pages))
    missing = sorted(h for h in headers if squash(h) not in text)
    assert not missing, missing
    # Bound from the content: the tables hold this many rows; at the print font a
    # landscape page holds at least 15 of them even when each row wraps to 3 lines,
    # plus the summary, charts and text before them (4 pages at most).
    rows = html.count("<tr")
    bound = 4 + -(-rows // 15)
    assert len(pages) <= bound, (len(pages), bound, rows)

    # Chinese headers render with an installed CJK font named in the CSS fallback list.
    families = {f["familyName"]: f["glyphCount"] for f in seen["fonts"]}
    cjk = {name: n for name, n in families.items() if name in CJK_FONTS}
    assert cjk and sum(cjk.values()) >= 3, families  # 到达率: three glyphs
    print(f"pdf pages={len(pages)} bound={bound} rows={rows} tables={len(printed)} "
          f"headers={len(headers)} fonts={families} pdf_bytes={len(seen['pdf'])}")  # fmt: skip
