"""KTAP and JUnit produced and parsed back; the regression gate passing and failing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from resultsgen import make_run, two_config_runs, write_results

from harness.report.compare.gate import find_regressions
from harness.report.compare.junit import render_junit
from harness.report.compare.ktap import render_ktap
from harness.report.compare.loader import load_results_dir
from harness.report.compare.report import compare_dirs, failed_tails

KTAP_RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)\s*(#.*)?$")


@pytest.fixture
def runs(tmp_path):
    rs = two_config_runs([100.0, 101.0], [200.0, 201.0])
    failed = make_run("tmem+pressure", 3, 0.0, status="failed")
    failed["failure"]["console_tail"] = "BUG: <oops> & \x1b[31mred\x1b[0m\nlast line"
    return load_results_dir(write_results(tmp_path, "exp", rs + [failed])).runs


def parse_ktap(text: str):
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1"
    plan = next(line for line in lines if re.match(r"^1\.\.\d+$", line))
    results, diags = [], []
    for line in lines[1:]:
        m = KTAP_RESULT.match(line)
        if m:
            results.append((m[1], int(m[2]), m[3], diags))
            diags = []
        elif line.startswith("#"):
            diags.append(line[2:])
        else:
            assert re.match(r"^1\.\.\d+$", line), line
    return int(plan[3:]), results


def test_ktap(runs):
    n, results = parse_ktap(render_ktap(runs, failed_tails(runs), "exp"))
    assert n == len(results) == 5
    assert [r[1] for r in results] == [1, 2, 3, 4, 5]
    failed = [r for r in results if r[0] == "not ok"]
    assert len(failed) == 1 and failed[0][2] == "tmem+pressure-i3"
    assert failed[0][3][0] == "tmem+pressure-i3: guest did not boot"
    assert failed[0][3][-1] == "last line"


def test_junit(runs):
    root = ET.fromstring(render_junit(runs, failed_tails(runs), "exp").encode())
    suite = root.find("testsuite")
    assert suite.get("name") == "exp"
    assert (suite.get("tests"), suite.get("failures")) == ("5", "1")
    cases = suite.findall("testcase")
    assert len(cases) == 5
    bad = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in bad] == ["tmem+pressure-i3"]
    failure = bad[0].find("failure")
    assert failure.get("message") == "guest did not boot"
    assert "BUG: <oops> &" in failure.text and "last line" in failure.text
    assert float(cases[0].get("time")) == pytest.approx(7.0 + 8.0)


def _dirs(tmp_path, base_new, new_new):
    base = load_results_dir(write_results(tmp_path, "base", two_config_runs(*base_new)))
    new = load_results_dir(write_results(tmp_path, "new", two_config_runs(*new_new)))
    return compare_dirs([new], baseline=base)


def test_gate_fails_on_significant_regression(tmp_path):
    table = _dirs(tmp_path, ([100.0, 101.0, 99.0], [200.0, 202.0, 198.0]),
                  ([100.0, 101.0, 99.0], [150.0, 151.0, 149.0]))
    regs = find_regressions(table, 5.0)
    # bytes_per_sec is the same measurement, descriptive: only the primary pages_per_sec gates
    assert [(r.column, r.metric) for r in regs] == [("new/tmem+pressure", "pages_per_sec")]
    assert regs[0].reference == "base/tmem+pressure" and regs[0].gain_pct < -5
    assert regs[0].p_value <= regs[0].p_adjusted < 0.05
    assert "worse" in str(regs[0]) and "Holm-adjusted p=" in str(regs[0])
    assert find_regressions(table, 30.0) == []   # a 25 % drop is within a 30 % allowance


def test_gate_passes_on_noise_and_improvement(tmp_path):
    noisy = _dirs(tmp_path / "a", ([100.0, 150.0, 60.0], [200.0, 202.0, 198.0]),
                  ([90.0, 140.0, 55.0], [250.0, 251.0, 249.0]))
    assert find_regressions(noisy, 5.0) == []   # -8 % but not significant; the rest improved
