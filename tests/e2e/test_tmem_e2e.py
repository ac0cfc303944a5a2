"""The tmem path end to end: a config:tmem guest swapping over virtio-serial into the
Python host backend, with verification, and the two faults that must never corrupt a
page: the backend killed mid-run (restarted with --durable) and a backend refusing every
put (quota 0)."""

import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

BASE = """
name: {name}
guest: {{memory_mib: 192, accel: auto, boot_timeout_s: 150}}
swap: {{size_mib: 512, iotune: {{total_bytes_sec: 209715200}}}}
kernels: [{{name: tmem, kernel: "config:tmem"}}]
workloads:
  - {{name: pressure, params: {{size_pct_of_ram: 150, passes: {passes}, pattern: seq,
      write_ratio: 0.2}}, timeout_s: 900}}
backend: {backend}
faults: {faults}
"""


@pytest.fixture(scope="module", autouse=True)
def tmem_kernel():
    proc = tmemlab("kernel", "build", "tmem", timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]


def run_experiment(tmp_path, name, backend="{}", faults="[]", passes=1):
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.format(name=name, backend=backend, faults=faults, passes=passes))
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    (run_file,) = (tmp_path / "results").glob(f"{name}-*/runs/*.json")
    return proc, json.loads(run_file.read_text())


def test_pages_go_through_tmem_and_come_back_intact(tmp_path):
    proc, run = run_experiment(tmp_path, "tmem", backend="{compression: lz4}")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d = run["deltas"]
    assert run["result"]["corrupted_pages"] == 0
    assert d["succ_stores"] > 0 and d["loads"] > 0
    assert d["backend_good_puts"] >= d["succ_stores"]
    assert all(c["ok"] for c in run["checks"].values()), run["checks"]
    assert run["backend"]["guest"]["good_puts"] > 0


def test_backend_killed_mid_run_and_restarted_durable_loses_nothing(tmp_path):
    proc, run = run_experiment(
        tmp_path, "tmemkill", backend="{durable: true}", passes=2,
        faults="[{at_s: 6, action: backend_kill, restart_after_s: 6}]")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    assert [e["event"] for e in run["faults"]] == ["backend_kill", "backend_restart"]
    assert run["result"]["corrupted_pages"] == 0
    assert run["deltas"]["succ_stores"] > 0


def test_backend_refusing_every_put_sends_everything_to_disk(tmp_path):
    proc, run = run_experiment(tmp_path, "tmemquota0", backend="{max_pages: 0}")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d = run["deltas"]
    assert run["result"]["corrupted_pages"] == 0
    assert d["succ_stores"] == 0 and d["failed_stores"] > 0
    assert d["pswpout"] > 0 and d["backend_good_puts"] == 0
    assert d["backend_rejects_quota_pages"] > 0
