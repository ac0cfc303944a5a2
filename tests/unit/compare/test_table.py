from __future__ import annotations

import numpy as np
import pytest
from resultsgen import VERSIONS, make_run, two_config_runs, write_results
from scipy import stats as ss

from harness.report.compare.loader import load_results_dir
from harness.report.compare.metrics import PRIMARY
from harness.report.compare.report import CompareOptions, compare_dirs
from harness.report.compare.table import NO_TEST, build_columns, build_table, match_references


def table_for(*dirs, **kw):
    return compare_dirs([load_results_dir(d) for d in dirs], CompareOptions(**kw))


def test_columns_and_reference(results_dir):
    t = table_for(results_dir)
    assert [c.key for c in t.columns] == ["tmem+pressure", "zswap+pressure"]
    assert t.references == (None, 0)
    row = t.row("pages_per_sec")
    ref, other = row.cells
    assert ref.summary.mean == pytest.approx(ss.hmean([1500, 1490, 1510]))
    assert other.summary.mean == pytest.approx(ss.hmean([1000, 1010, 990]))
    assert other.gain_pct == pytest.approx(100 * (other.summary.mean / ref.summary.mean - 1))
    assert other.p_value == pytest.approx(
        ss.ttest_ind(np.log([1500, 1490, 1510]), np.log([1000, 1010, 990]),
                     equal_var=False).pvalue)
    assert other.significant and other.verdict == "worse"
    assert ref.gain_pct is None and ref.verdict == ""


def test_lower_is_better_sign(results_dir):
    t = table_for(results_dir, labels=("zswap+pressure", "tmem+pressure"))
    cell = t.row("elapsed_s").cells[1]   # 8 s against 10 s
    assert cell.gain_pct == pytest.approx(20.0) and cell.verdict == "better"
    swap = t.row("pswpout").cells[1]   # a counter: the change is shown, never judged
    assert swap.gain_pct == pytest.approx(60.0) and swap.verdict == "" and swap.p_value is None


@pytest.mark.parametrize("counter", ["zswpout", "pswpin", "pgmajfault"])
def test_counters_are_never_tested(tmp_path, counter):
    runs = [make_run("a", i, 10.0, extra_deltas={counter: 10.0 * i}) for i in (1, 2, 3)]
    runs += [make_run("b", i, 10.0, extra_deltas={counter: 1e6 + i}) for i in (1, 2, 3)]
    t = table_for(write_results(tmp_path, "r", runs))
    cell = t.row(counter).cells[1]
    assert cell.gain_pct != 0 and not cell.primary
    assert cell.p_value is None and cell.p_adjusted is None and not cell.significant
    assert cell.verdict == ""
    assert counter not in t.families[1].tested


def test_geomean_is_over_primary_metrics_only(results_dir):
    t = table_for(results_dir, labels=("zswap+pressure", "tmem+pressure"))
    primary = {p.metric for p in PRIMARY["pressure"]}
    ratios = []
    for row in t.rows:
        if row.metric.name not in primary:
            continue
        a, b = row.cells[0].summary.mean, row.cells[1].summary.mean
        ratios.append(b / a if row.metric.direction.value == "higher" else a / b)
    assert t.geomean[0].value == 1.0
    assert t.geomean[1].value == pytest.approx(ss.gmean(ratios))
    assert t.geomean[1].metrics == len(ratios) == 6   # no fill/final verify in these records
    assert t.geomean[1].value > 1


def test_failed_runs_are_excluded(tmp_path):
    runs = two_config_runs([100.0, 101.0], [200.0, 201.0])
    runs.append(make_run("tmem+pressure", 3, 1e9, status="failed"))
    t = table_for(write_results(tmp_path, "r", runs))
    col = t.columns[0]
    assert (len(col.runs), len(col.passed), col.n_failed) == (3, 2, 1)
    assert t.row("pages_per_sec").cells[0].summary.max == 201.0


def test_single_iteration(tmp_path):
    t = table_for(write_results(tmp_path, "r", two_config_runs([100.0], [200.0])))
    assert t.single_iteration
    cell = t.row("pages_per_sec").cells[1]
    assert cell.summary.stddev is None and cell.p_value is None and not cell.significant
    assert cell.gain_pct == pytest.approx(-50.0)   # kept in the data, not shown as a finding
    assert cell.note == NO_TEST and t.untestable(1)
    assert t.row("pswpout").cells[1].note == NO_TEST


def test_baseline_matches_labels(tmp_path):
    base = load_results_dir(write_results(tmp_path, "base", two_config_runs([100.0] * 2,
                                                                             [200.0] * 2)))
    new = load_results_dir(write_results(tmp_path, "new", two_config_runs([100.0] * 2,
                                                                           [150.0] * 2)))
    t = compare_dirs([new], baseline=base)
    assert [c.key for c in t.columns] == ["base/tmem+pressure", "base/zswap+pressure",
                                          "new/tmem+pressure", "new/zswap+pressure"]
    assert t.references == (None, None, 0, 1)


def test_duplicate_folder_names_stay_unique(tmp_path):
    a = load_results_dir(write_results(tmp_path / "a", "exp", two_config_runs([1.0], [2.0])))
    cols = build_columns([a, a])
    assert len({c.key for c in cols}) == len(cols)
    assert match_references(cols, 0) == [None, None, 0, 1]


def test_warnings_for_differing_identity(tmp_path):
    other = {**VERSIONS, "accel": "kvm", "qemu": "8.2.0",
             "host": {**VERSIONS["host"], "hostname": "lab2"}}
    a = write_results(tmp_path, "a", [make_run("x", 1, 1.0)])
    b = write_results(tmp_path, "b", [make_run("x", 1, 1.0, memory_mib=512)], versions=other)
    text = "\n".join(table_for(a, b).warnings)
    for what in ("host:", "accelerator:", "QEMU version:", "guest memory (MiB):"):
        assert what in text
    assert "tcg (a)" in text and "kvm (b)" in text
    assert table_for(a).warnings == ()


def test_build_table_without_runs_has_no_rows():
    assert build_table([]).rows == ()
