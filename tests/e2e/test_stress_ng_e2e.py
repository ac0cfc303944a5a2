"""stress-ng --vm --verify, the standard second workload, through a real experiment."""

import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

EXPERIMENT = """
name: stress
guest: {memory_mib: 192, accel: auto}
swap: {size_mib: 512}
kernels: [{name: cloud, kernel: distro:debian-6.1-cloud}]
workloads:
  - {name: stress-ng, params: {vm: 1, vm_bytes: 128M, vm_method: all, duration: 30},
     timeout_s: 300}
"""


def test_stress_ng_vm_verify_run(tmp_path):
    path = tmp_path / "stress.yaml"
    path.write_text(EXPERIMENT)
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_file,) = (tmp_path / "results").glob("stress-*/runs/*.json")
    run = json.loads(run_file.read_text())
    assert run["status"] == "passed", run.get("failure")
    assert run["result"]["bogo_ops"] > 0 and run["result"]["verify_failures"] == 0
    assert run["deltas"]["pswpout"] > 0  # 128M of vm worker beside the rest of a 192M guest swaps
