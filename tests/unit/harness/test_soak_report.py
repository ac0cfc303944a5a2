"""The soak report's verdicts on synthetic series (pure logic), and the CLI on a folder."""

import csv
import json
import math
import subprocess
import sys

from harness.report import soak_report


def hours(n: int) -> list[float]:
    return [i * 60.0 for i in range(n)]          # one sample a minute


def test_a_count_that_creeps_up_is_not_bounded_and_a_flat_one_is():
    t = hours(120)
    assert soak_report.growth("harness_fds", t, [14.0] * 120).bounded
    creeping = [14.0 + i // 30 for i in range(120)]   # one more every half hour
    got = soak_report.growth("harness_fds", t, creeping)
    assert (got.first_max, got.last_max, got.bounded) == (14.0, 17.0, False)


def test_a_restarted_process_whose_rss_saws_up_and_down_is_bounded():
    t = hours(120)
    saw = [100e6 + (i % 20) * 40e6 for i in range(120)]  # killed and restarted every 20 min
    assert soak_report.growth("backend_rss_bytes", t, saw).bounded
    leak = [100e6 + i * 5e6 for i in range(120)]
    assert not soak_report.growth("backend_rss_bytes", t, leak).bounded


def test_rows_without_the_column_are_left_out_and_short_series_give_no_verdict():
    t = hours(40)
    values = [math.nan if i % 3 else 10.0 for i in range(40)]
    assert soak_report.growth("backend_fds", t, values).bounded
    assert soak_report.growth("backend_fds", hours(5), [1.0] * 5) is None


def soak_folder(tmp_path, fds_end: float, corrupted: int = 0):
    (tmp_path / "runs").mkdir()
    (tmp_path / "series").mkdir()
    record = {"run_id": "tmem+pressure-i1", "status": "passed", "failure": None,
              "result": {"verified_pages": 123456, "corrupted_pages": corrupted},
              "faults": [{"t": 600.0, "event": "backend_kill"},
                         {"t": 605.0, "event": "backend_restart"},
                         {"t": 1000.0, "event": "backend_stall"}],
              "summary": {"samples": 100, "backend_samples_missed": 7},
              "backend": {"options": {"cap": 5055240601}}}
    (tmp_path / "runs" / "tmem+pressure-i1.json").write_text(json.dumps(record))
    with open(tmp_path / "series" / "tmem+pressure-i1.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "backend_fds", "harness_fds", "backend_rss_bytes",
                    "backend_stored_bytes", "scratch_bytes"])
        for i in range(100):
            fds = 12 if i < 75 else fds_end
            w.writerow([i * 60, fds, 20, 200e6 + (i % 10) * 1e6,
                        "" if i == 50 else 1e8, 5e8])
    return tmp_path


def test_figures_count_faults_and_judge_the_soak(tmp_path):
    report = soak_report.figures(*soak_report.load(soak_folder(tmp_path, fds_end=12)))
    assert report["faults"] == {"backend_kill": 1, "backend_restart": 1, "backend_stall": 1}
    assert report["hours"] == 1.65 and report["backend_stored_bytes_max"] == 1e8
    assert report["bounded"] and soak_report.passed(report)
    assert not soak_report.passed({**report, "corrupted_pages": 1})


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_json_and_png_and_exits_1_when_descriptors_grew(tmp_path):
    folder = soak_folder(tmp_path, fds_end=40)
    proc = run_cli("soak-report", str(folder))
    assert proc.returncode == 1, proc.stderr
    assert "backend_fds" in proc.stderr and "NO" in proc.stderr   # the console is stderr
    assert json.loads((folder / "soak.json").read_text())["bounded"] is False
    assert (folder / "soak.png").stat().st_size > 10_000


def test_cli_says_in_one_line_when_the_folder_is_not_a_soak(tmp_path):
    proc = run_cli("soak-report", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "not a soak results folder (" + str(tmp_path) + ": expected one run in runs/, found 0)")
