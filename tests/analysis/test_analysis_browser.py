"""report.html rendered in headless Chromium: every embedded figure decodes and the page draws.

A copy of the report gets a small script that, once the page has loaded, writes each image's
decoded size into the DOM; ``--dump-dom`` then shows what the browser actually decoded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
PROBE = """<script>
window.addEventListener("load", () => {
  const rows = Array.from(document.images).map(
    (img) => `${img.dataset.figure}|${img.complete}|${img.naturalWidth}|${img.naturalHeight}`);
  const pre = document.createElement("pre");
  pre.id = "image-probe";
  pre.textContent = rows.join("\\n");
  document.body.appendChild(pre);
});
</script>"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                       "(apt-get install chromium)"),
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180)


def test_every_figure_decodes_in_chromium(report, tmp_path):
    code, out = report
    assert code == 0
    html = (out / "report.html").read_text()
    n_images = html.count("<img ")
    assert n_images == len(list((out / "figures").glob("*.png"))) > 10
    page = tmp_path / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    run = chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", page.as_uri())
    match = re.search(r'<pre id="image-probe">(.*?)</pre>', run.stdout, re.S)
    assert match, f"probe did not run; chromium said: {run.stderr[-2000:]}"
    rows = [r.split("|") for r in match.group(1).strip().splitlines()]
    assert len(rows) == n_images
    for name, complete, width, height in rows:
        assert complete == "true" and int(width) > 200 and int(height) > 100, name


def test_screenshot_of_the_report(report, tmp_path):
    _, out = report
    shot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}",
             "--virtual-time-budget=10000", (out / "report.html").as_uri())
    img = Image.open(shot).convert("L")
    assert img.size == (1280, 2400)
    lo, hi = img.getextrema()
    assert lo < 80 and hi > 240  # text and figures on a white page, not a blank render
