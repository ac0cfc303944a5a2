"""Render the HTML report from a constructed results folder in headless Chromium.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); skipped without it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest
from resultsgen import make_run, two_config_runs, write_results  # via conftest.py

from harness.report.compare.cli import main_compare

pytestmark = pytest.mark.functional

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=5000",
)
TIMEOUT_S = 60

# Test-only probe: after load, record how many <img class="plot"> decoded into pixels.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.querySelectorAll('img.plot')];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.body.setAttribute('data-plots', imgs.length);
  document.body.setAttribute('data-plots-decoded', ok.length);
});
</script></body>"""


def chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def run_chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    runs = two_config_runs([1000.0, 1010.0, 990.0], [1500.0, 1490.0, 1510.0])
    runs.append(make_run("tmem+pressure", 4, 0.0, status="failed"))
    results = write_results(tmp, "exp-20250101-000000", runs)
    assert main_compare([str(results), "-q"]) == 0
    return results / "compare" / "report.html"


@pytest.fixture(scope="module")
def exe() -> str:
    found = chromium()
    if found is None:
        pytest.skip("chromium not installed (Debian package: apt-get install -y chromium)")
    return found


def test_plots_decode_in_chromium(exe, report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("</body>", PROBE))
    proc = run_chromium(exe, tmp_path, "--dump-dom", probed.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout)
    assert body, proc.stdout[:500]
    plots = re.search(r'data-plots="(\d+)"', body[0])
    decoded = re.search(r'data-plots-decoded="(\d+)"', body[0])
    assert plots and decoded, body[0]
    assert int(plots[1]) == 4 and int(decoded[1]) == 4
    assert 'id="comparison"' in proc.stdout and "tmem+pressure-i4" in proc.stdout


def test_screenshot_is_not_blank(exe, report, tmp_path):
    shot = tmp_path / "shot.png"
    proc = run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600",
                        report.as_uri())
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = matplotlib.image.imread(io.BytesIO(shot.read_bytes()), format="png")
    assert img.shape[:2] == (1600, 1200)
    colours = {tuple(px) for px in img[::20, ::20, :3].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 20  # text, table borders and plot colours, not a blank page
