"""Kernel warnings and stalls of passed runs, and workload notes, reach the comparison."""

from __future__ import annotations

from resultsgen import make_run, write_results

from harness.report.compare.loader import load_results_dir
from harness.report.compare.render_md import render_markdown
from harness.report.compare.report import compare_dirs

WARN = "WARNING: CPU: 0 PID: 171 at mm/page_alloc.c:5512 __alloc_pages+0x2b1/0x330"


def test_kernel_warnings_and_notes_are_listed(tmp_path):
    runs = [make_run("zswap+pressure", i, 1000.0 + i) for i in (1, 2, 3)]
    runs += [make_run("disk+pressure", i, 900.0 + i) for i in (1, 2, 3)]
    runs[1]["kernel_log"] = {"fatal": [], "stall": [], "warning": [
        {"line": WARN, "pattern": "warn", "class": "warning", "source": "dmesg"}]}
    runs[4]["kernel_log"] = {"fatal": [], "warning": [], "stall": [
        {"line": "rcu: INFO: rcu_preempt self-detected stall on CPU", "class": "stall"}]}
    runs[5]["workload"] = {**runs[5].get("workload", {}), "notes": ["vm_method all: partial"]}
    table = compare_dirs([load_results_dir(write_results(tmp_path, "exp", runs))])
    assert f"zswap+pressure: kernel warnings in 1 of 3 runs: {WARN}" in table.warnings
    assert ("disk+pressure: kernel stalls (TCG, transient) in 1 of 3 runs: rcu: INFO: "
            "rcu_preempt self-detected stall on CPU") in table.warnings
    assert "disk+pressure: vm_method all: partial" in table.warnings
    assert WARN in render_markdown(table)


def test_clean_runs_add_no_warning(tmp_path):
    runs = [make_run("a+pressure", i, 1000.0) for i in (1, 2)]
    for run in runs:
        run["kernel_log"] = {"fatal": [], "warning": [], "stall": []}
    table = compare_dirs([load_results_dir(write_results(tmp_path, "exp", runs))])
    assert not [w for w in table.warnings if "kernel" in w]
