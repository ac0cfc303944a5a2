"""`tmemlab compare` / `tmemlab show` end to end on constructed folders (no guests)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest
from resultsgen import make_run, two_config_runs, write_results
from rich.console import Console

from harness.report.compare import CompareError, report_experiment
from harness.report.compare.cli import main_compare, main_show


def test_compare_writes_every_output(results_dir, capsys):
    assert main_compare([str(results_dir)]) == 0
    out = results_dir / "compare"
    names = {p.name for p in out.iterdir()}
    assert {"comparison.md", "comparison.csv", "comparison.json", "report.html",
            "results.ktap", "junit.xml", "throughput.png", "swap_rates.png", "psi.png",
            "backend_stored.png"} <= names
    for png in out.glob("*.png"):
        img = matplotlib.image.imread(io.BytesIO(png.read_bytes()), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0
    assert json.loads((out / "comparison.json").read_text())["columns"][0]["passed"] == 3
    assert "tmem+pressure" in capsys.readouterr().out


def test_compare_out_and_no_plots(results_dir, tmp_path):
    out = tmp_path / "elsewhere"
    assert main_compare([str(results_dir), "--out", str(out), "--no-plots", "-q"]) == 0
    assert not list(out.glob("*.png")) and (out / "report.html").is_file()
    ET.parse(out / "junit.xml")


@pytest.mark.parametrize("argv,needle", [
    (["{missing}"], "no such results directory"),
    (["{empty}"], "no runs found"),
    (["{good}", "{good2}"], "--out"),
    (["{good}", "--labels", "nope"], "no runs with label(s): nope"),
    (["{good}", "--alpha", "2"], "alpha must be between 0 and 1"),
    ([], "required"),
])
def test_user_errors_are_one_line(tmp_path, results_dir, capsys, argv, needle):
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty",
             "good": results_dir, "good2": results_dir}
    argv = [a.format(**paths) for a in argv]
    assert main_compare(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def _pair(tmp_path, new_tmem):
    base = write_results(tmp_path, "base", two_config_runs([100.0, 101.0, 99.0],
                                                           [200.0, 202.0, 198.0]))
    new = write_results(tmp_path, "new", two_config_runs([100.0, 101.0, 99.0], new_tmem))
    return base, new


def test_gate_cli_fails(tmp_path, capsys):
    base, new = _pair(tmp_path, [150.0, 151.0, 149.0])
    argv = ["--baseline", str(base), str(new), "--fail-on-regression", "5", "-q", "--no-plots"]
    assert main_compare(argv) == 1
    err = capsys.readouterr().err
    assert "regression: new/tmem+pressure vs base/tmem+pressure: pages_per_sec" in err
    assert (new / "compare-vs-base" / "comparison.md").is_file()


def test_gate_cli_passes(tmp_path, capsys):
    base, new = _pair(tmp_path, [201.0, 203.0, 199.0])
    argv = ["--baseline", str(base), str(new), "--fail-on-regression", "5", "-q", "--no-plots"]
    assert main_compare(argv) == 0
    assert "regression" not in capsys.readouterr().err


def test_gate_cli_warns_on_single_iteration(tmp_path, capsys):
    d = write_results(tmp_path, "one", two_config_runs([100.0], [10.0]))
    assert main_compare([str(d), "--fail-on-regression", "5", "-q", "--no-plots"]) == 0
    assert "no significance test" in capsys.readouterr().err


def test_show(results_dir, capsys, tmp_path):
    assert main_show([str(results_dir)]) == 0
    out = capsys.readouterr().out
    for needle in ("Test CPU @ 2.0GHz", "tcg", "7.2.0", "9.0.0", "abc123", "img0hash",
                   "linux-image-6.1.0-28-amd64 6.1.119-1", "sha256:k1", "6 (6 passed, 0 failed)"):
        assert needle in out
    assert main_show([str(tmp_path / "nope")]) == 2


def test_report_experiment(results_dir):
    console = Console(record=True, width=160)
    report_experiment(results_dir, console)
    assert (results_dir / "results.ktap").read_text().startswith("KTAP version 1\n")
    ET.parse(results_dir / "junit.xml")
    assert (results_dir / "compare" / "report.html").is_file()
    assert "geomean ratio" in console.export_text()
    with pytest.raises(CompareError):
        report_experiment(results_dir / "nope", console)


def test_gate_cli_fails_on_failed_runs_and_corruption(tmp_path, capsys):
    base = write_results(tmp_path, "base", two_config_runs([100.0, 101.0], [200.0, 201.0]))
    runs = two_config_runs([100.0, 101.0], [200.0, 201.0])
    runs[-1]["result"]["corrupted_pages"] = 3
    runs.append(make_run("zswap+pressure", 3, 0.0, status="failed"))
    new = write_results(tmp_path, "new", runs)
    argv = ["--baseline", str(base), str(new), "--fail-on-regression", "5", "-q", "--no-plots"]
    assert main_compare(argv) == 1
    err = capsys.readouterr().err
    assert "failure: new/zswap+pressure: 1 of 3 runs failed" in err
    assert "failure: new/tmem+pressure: corrupted pages: 3" in err


def test_compare_and_show_json_go_to_stdout_people_to_stderr(results_dir, capsys):
    assert main_compare([str(results_dir), "--json", "--no-plots"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data == json.loads((results_dir / "compare" / "comparison.json").read_text())
    assert "tmem+pressure" in err and "wrote" in err
    assert main_show([str(results_dir), "--json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["versions"]["host"]["hostname"] == "lab1"
    assert {r["host"] for r in shown["runs"]} == {"lab1"} and len(shown["runs"]) == 6
