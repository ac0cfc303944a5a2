"""Holm's correction, primary metrics per workload, pressure phases and the honest geomean."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resultsgen import make_run

from harness.report.compare import stats
from harness.report.compare.gate import find_regressions
from harness.report.compare.headline import build_headline
from harness.report.compare.loader import parse_run
from harness.report.compare.metrics import BY_NAME, PRIMARY, value
from harness.report.compare.table import NO_TEST, Column, build_table


def test_holm_hand_computed():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([None, 0.01, None]) == [None, 0.01, None]   # None is not in the family
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])    # capped at 1
    assert stats.holm([]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30))
def test_holm_properties(ps):
    adj = stats.holm(ps)
    assert all(p <= a <= 1.0 for p, a in zip(ps, adj))
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    assert all(adj[i] <= adj[j] for i, j in zip(order, order[1:]))   # monotone in raw p
    assert min(adj) == pytest.approx(min(1.0, len(ps) * min(ps)))     # Bonferroni at the top


def test_welch_p_ratio_uses_logs_of_positive_values():
    a, b = [14.0, 15.0, 13.0], [100.0, 115.0, 88.0]
    assert stats.welch_p_ratio(a, b) == pytest.approx(
        stats.welch_p([math.log(v) for v in a], [math.log(v) for v in b]))
    assert stats.welch_p_ratio([0.0, 1.0], [2.0, 3.0]) == stats.welch_p([0.0, 1.0], [2.0, 3.0])


def _run(label, i, fill, passes, verify, **kw):
    run = make_run(label, i, 1000.0, elapsed_s=passes, **kw)
    run["result"]["fill_elapsed_s"] = fill
    run["result"]["final_verify_elapsed_s"] = verify
    return run


def _table(runs, labels):
    records = [parse_run(r, Path("/generated")) for r in runs]
    return build_table([Column(lab, lab, "gen", tuple(r for r in records if r.label == lab))
                        for lab in labels])


def test_total_is_fill_plus_passes_plus_final_verify():
    total = BY_NAME["total_elapsed_s"]
    assert value(_run("a", 1, 109.0, 50.0, 100.0), total) == pytest.approx(259.0)
    assert value(_run("a", 1, 14.0, 50.0, None), total) == pytest.approx(64.0)  # no sweep
    no_fill = make_run("a", 1, 1.0)
    assert value(no_fill, total) is None   # older records: no fill time, no total


def test_pressure_phases_are_primary_and_in_the_headline():
    names = [p.metric for p in PRIMARY["pressure"]]
    for phase in ("fill_elapsed_s", "elapsed_s", "final_verify_elapsed_s", "total_elapsed_s"):
        assert phase in names
    assert [p.metric for p in PRIMARY["stress-ng"]] == ["bogo_ops_per_sec", "elapsed_s"]
    runs = [_run(lab, i, 14.0 + i, 50.0 + i, 30.0 + i) for lab in ("d", "t") for i in (1, 2, 3)]
    head = build_headline(_table(runs, ("d", "t")))
    titles = [hr.title for hr in head.rows]
    assert titles[0].startswith("fill") and any(t.startswith("total") for t in titles)


def test_issue_geomean_finding_tmem_is_not_better():
    """tmem-vs-zswap.yaml, 1 iteration: tmem's wall 370 s against disk's 174 s, yet the old
    geomean over every directional metric (I/O counters that tmem zeroes dropped) said 2.91."""
    disk = _run("disk", 1, 14.3, 100.0, 30.5, pswpout=90000.0)
    tmem = _run("tmem", 1, 109.0, 123.0, 100.0, pswpout=0.0)
    tmem["result"]["pages_per_sec"] = 810.0   # -19 % in the passes
    t = _table([disk, tmem], ("disk", "tmem"))
    g = t.geomean[1]
    assert g.value is not None and g.value < 0.7 and g.metrics == 9   # worse, not 2.91
    assert build_headline(t).verdicts[1].text == NO_TEST
    assert t.row("total_elapsed_s").cells[1].note == NO_TEST


def test_geomean_says_why_instead_of_dropping():
    a = [_run("a", i, 10.0, 20.0, 5.0) for i in (1, 2)]
    b = [_run("b", i, 10.0, 20.0, None) for i in (1, 2)]   # no final verify in b
    g = _table(a + b, ("a", "b")).geomean[1]
    assert g.value is None and g.reason == "final_verify_elapsed_s missing in b"
    c = [_run("c", i, 0.0, 20.0, 5.0) for i in (1, 2)]      # a zero fill time
    g = _table(a + c, ("a", "c")).geomean[1]
    assert g.value is None and g.reason == "fill_elapsed_s not positive in c"


def test_unknown_workload_tests_nothing():
    runs = [make_run(lab, i, 100.0 * (1 + (lab == "b")) + i) for lab in "ab" for i in (1, 2, 3)]
    for r in runs:
        r["workload"]["name"] = "fio"
    t = _table(runs, ("a", "b"))
    assert t.families[1].size == 0 and not any(r.cells[1].significant for r in t.rows)
    assert t.geomean[1].value is None and "no primary metrics" in t.geomean[1].reason
    assert build_headline(t).verdicts[1].text == "no primary metric tested"


def test_gate_ignores_counters_and_uses_adjusted_p():
    base = [make_run("a", i, 1000.0 + i, pswpout=1000.0 + i) for i in (1, 2, 3)]
    new = [make_run("b", i, 1000.0 + i, pswpout=9000.0 + i) for i in (1, 2, 3)]
    t = _table(base + new, ("a", "b"))
    assert t.row("pswpout").cells[1].gain_pct < -700 and find_regressions(t, 5) == []


def test_one_histogram_bucket_is_not_a_finding():
    """Latency percentiles are bucket midpoints: constant but one bucket apart (p = 0 for
    Welch) is within the instrument's resolution; a bigger change is still found."""
    runs = [make_run(lab, i, 1000.0 + i) for lab in "ab" for i in (1, 2, 3)]
    for r in runs:
        r["result"]["latency_us"]["p50"] = 1.0 if r["label"] == "a" else 1.032
        r["result"]["latency_us"]["p99"] = 100.0 if r["label"] == "a" else 150.0
    t = _table(runs, ("a", "b"))
    p50, p99 = t.row("lat_p50_us").cells[1], t.row("lat_p99_us").cells[1]
    assert p50.p_adjusted == 0.0 and not p50.significant
    assert p99.significant and p99.verdict == "worse"


def test_phases_plot_only_with_phase_times():
    from harness.report.compare.plots import phases_plot

    runs = [_run(lab, i, 14.0 + i, 50.0, 30.0) for lab in ("d", "t") for i in (1, 2)]
    assert phases_plot(_table(runs, ("d", "t"))).startswith(b"\x89PNG")
    plain = [make_run(lab, i, 10.0) for lab in ("d", "t") for i in (1, 2)]
    assert phases_plot(_table(plain, ("d", "t"))) is None
