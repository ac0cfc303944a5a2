"""The kernel-build workload in a real guest under memory pressure: the host prepares a
tinyconfig tree and builds the targets once for reference, the guest mounts the tree disk
read-only, builds the same targets with make -j2, and every object it produced matches
the host's byte for byte (sha256sum -c); make's wall time is the metric compare ranks.
Two objects of kernel/time/ keep it short (kernel/sched/ at -j2 took 396 s here)."""

import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

EXPERIMENT = """
name: kbuild
guest: {memory_mib: 128, accel: auto, boot_timeout_s: 200}
swap: {size_mib: 512}
kernels: [{name: disk, kernel: "distro:debian-6.1", cmdline: zswap.enabled=0}]
workloads:
  - name: kernel-build
    params: {jobs: 2, targets: [kernel/time/timer.o, kernel/time/hrtimer.o]}
    timeout_s: 1500
"""


def test_guest_build_matches_the_hosts_objects_under_swap(tmp_path):
    path = tmp_path / "kbuild.yaml"
    path.write_text(EXPERIMENT)
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"), timeout=3000)
    (run_file,) = (tmp_path / "results").glob("kbuild-*/runs/*.json")
    run = json.loads(run_file.read_text())
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-3000:])
    tree = run["workload"]["tree"]
    assert tree["targets"] == ["kernel/time/timer.o", "kernel/time/hrtimer.o"]
    assert tree["config"] == "tinyconfig"
    result = run["result"]
    assert result["make_exit"] == 0 and result["objects_mismatched"] == 0
    assert result["objects_checked"] == tree["objects"] > 0
    assert result["compiler"] == tree["compiler"]
    assert result["elapsed_s"] > 0 and result["jobs"] == 2
    assert run["deltas"]["pswpout"] > 0   # two cc1 of ~80 MiB in a 128 MiB guest swap
    versions = json.loads((run_file.parent.parent / "versions.json").read_text())
    assert {"gcc", "make", "bc"} <= set(versions["image"]["packages"])  # the workload's
