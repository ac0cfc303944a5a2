"""The debate report's files, and `tmemlab debate --report` on a fixed folder."""

import json
import subprocess
import sys

from harness.report.debate import run
from tests.unit.debate.conftest import HDD, NVME, arm

SYNC = [1000, 1010, 990]


def results(folder):
    return folder(arm("disk-hdd", [50, 52, 51], iotune=HDD, divisor=30.0, disk_read_ms=200.0)
                  + arm("disk-nvme", [900, 910, 905], iotune=NVME, divisor=30.0,
                        disk_read_ms=0.5)
                  + arm("tmem-sync", SYNC, tmem="sync", rtt_us=100, host_cpu_s=15)
                  + arm("tmem-async", [1500, 1510, 1490], tmem="async", frames=1.0)
                  + arm("tmem-async-batch", [1600, 1610, 1590], tmem="async+batch",
                        frames=0.25))


def test_report_files_lead_with_verdicts_and_conditions(folder, tmp_path):
    md = run.report([results(folder)], tmp_path / "out", wall_s=123.0)
    text = md.read_text()
    head = text.split("## Conditions")[0]
    for title in ("4K-only", "Synchronous", "A per-page exit against a disk access",
                  "Not zero-copy", "Unbatched", "CPU up, throughput up"):
        assert f"| {title} | **" in head
    assert "accelerator: tcg; the guest CPU measured 30× slower" in text
    assert "wall time: 123 s" in text
    assert text.count("\nVerdict: ") == 6
    for png in ("throughput", "latency", "cpu_throughput"):
        assert (tmp_path / "out" / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((tmp_path / "out" / "debate.json").read_text())
    assert {f["key"]: f["verdict"] for f in data["findings"]}["sync"] == "supported"
    page = (tmp_path / "out" / "debate.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Verdict: supported" in page


def test_cli_report_only(folder, tmp_path):
    path = results(folder)
    out = subprocess.run([sys.executable, "-m", "harness", "debate", "--report", str(path),
                          "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Synchronous: Verdict: supported" in " ".join((out.stdout + out.stderr).split())
    assert (tmp_path / "r" / "DEBATE.md").is_file()


def test_cli_bad_folder_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "debate", "--report",
                          str(tmp_path / "nope")], capture_output=True, text=True)
    assert out.returncode == 2
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and "no such results directory" in lines[0]
