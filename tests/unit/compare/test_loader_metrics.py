from __future__ import annotations

import json
import math

import pytest
from resultsgen import make_run, write_results

from harness.report.compare.errors import ResultsDirError
from harness.report.compare.loader import console_tail, load_results_dir, parse_series, read_series
from harness.report.compare.metrics import BY_NAME, Direction, discover, lookup, metrics_for


def test_load_results_dir(results_dir):
    d = load_results_dir(results_dir)
    assert d.labels() == ["tmem+pressure", "zswap+pressure"]
    assert [r.iteration for r in d.runs[:3]] == [1, 2, 3]
    assert d.versions["accel"] == "tcg"
    assert d.experiment["iterations"] == 3


def test_missing_dir_and_no_runs(tmp_path):
    with pytest.raises(ResultsDirError, match="no such results directory"):
        load_results_dir(tmp_path / "absent")
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    with pytest.raises(ResultsDirError, match="no runs found"):
        load_results_dir(tmp_path / "empty")


def test_bad_run_json(tmp_path):
    d = write_results(tmp_path, "r", [make_run("a", 1, 10.0)])
    (d / "runs" / "broken.json").write_text("{not json")
    with pytest.raises(ResultsDirError, match="broken.json") as exc:
        load_results_dir(d)
    assert "\n" not in str(exc.value)


def test_label_falls_back_to_run_id(tmp_path):
    run = make_run("k+w", 2, 10.0)
    del run["label"]
    d = load_results_dir(write_results(tmp_path, "r", [run]))
    assert d.runs[0].label == "k+w"


def test_series():
    s = parse_series("t,pswpin,x\n0,1,\n1,3,bad\n")
    assert s["t"] == [0.0, 1.0] and s["pswpin"] == [1.0, 3.0]
    assert all(math.isnan(v) for v in s["x"])
    assert parse_series("") == {}


def test_read_series_absent_is_empty(results_dir):
    assert read_series(results_dir, "nope-i1") == {}
    assert read_series(results_dir, "tmem+pressure-i1")["pswpout"][1] > 0


def test_console_tail(tmp_path):
    failed = make_run("a", 1, 0.0, status="failed")
    failed["failure"]["console_tail"] = None
    d = write_results(tmp_path, "r", [failed])
    (d / "console" / "a-i1.log").write_text("\n".join(f"line {i}" for i in range(100)))
    tail = console_tail(load_results_dir(d).runs[0], lines=3)
    assert tail == "line 97\nline 98\nline 99"


def test_lookup():
    run = make_run("a", 1, 10.0)
    assert lookup(run, ("result", "latency_us", "p99")) == 100.0
    assert lookup(run, ("result", "nope")) is None
    assert lookup({"x": True}, ("x",)) is None
    assert lookup({"x": float("nan")}, ("x",)) is None
    assert lookup({"x": "3"}, ("x",)) is None


def test_metric_table_directions():
    assert BY_NAME["pages_per_sec"].direction is Direction.HIGHER
    assert BY_NAME["pages_per_sec"].rate
    assert BY_NAME["elapsed_s"].direction is Direction.LOWER
    assert not BY_NAME["elapsed_s"].rate
    assert BY_NAME["pswpin"].direction is Direction.LOWER
    assert len(BY_NAME) == len({m.path for m in BY_NAME.values()})


def test_discovered_metrics():
    run = make_run("a", 1, 10.0, extra_deltas={"reject_compress_poor": 3, "written_back_pages": 7})
    run["result"]["ops_per_sec"] = 50.0
    run["summary"]["backend_pages_end"] = 9
    found = {m.name: m for m in discover([run])}
    assert found["reject_compress_poor"].direction is Direction.LOWER
    assert found["ops_per_sec"].rate and found["ops_per_sec"].direction is Direction.HIGHER
    assert found["backend_pages_end"].direction is Direction.NEUTRAL
    assert "written_back_pages" not in found  # named in the table as zswap_written_back_pages
    names = [m.name for m in metrics_for([run])]
    assert names.index("pages_per_sec") < names.index("reject_compress_poor")
    assert "zswap_written_back_pages" in names and "frontswap_loads" not in names


def test_discovered_name_clash_is_qualified():
    run = {"result": {"pswpin": 1.0}, "deltas": {"pswpin": 2.0}}
    names = [m.name for m in metrics_for([run])]
    assert "pswpin" in names and "result.pswpin" in names
    json.dumps(names)
