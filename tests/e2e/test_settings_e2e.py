"""Settings in effect and the workload's own outcome, on real guests: each finding of
issue 9 that a new user hit, provoked for real."""

import json

import pytest

from harness.run.workloads import STRESS_VM_METHODS
from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

SETTINGS = """
name: settings
guest: {memory_mib: 192, accel: auto}
swap: {size_mib: 256}
kernels:
  - {name: zswap-typo, kernel: distro:debian-6.1, cmdline: zswap.enable=1}
  - {name: zswap-lz5, kernel: distro:debian-6.1, cmdline: zswap.enabled=1 zswap.compressor=lz5}
  - {name: zram, kernel: distro:debian-6.1, cmdline: tmemlab.zram=128M}
workloads:
  - {name: pressure, params: {size: 288M, passes: 1, pattern: seq, mix: {zero: 20, text: 80}},
     timeout_s: 400}
"""


def runs(results) -> dict[str, dict]:
    out = {}
    for path in results.glob("*/runs/*.json"):
        run = json.loads(path.read_text())
        out[run["label"].split("+")[0]] = run
    return out


def test_settings_not_in_effect_fail_and_zram_sits_above_the_disk(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(SETTINGS)
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    by_label = runs(tmp_path / "results")

    typo = by_label["zswap-typo"]
    assert typo["status"] == "failed"
    assert typo["failure"]["reason"].startswith(
        "setting not in effect: zswap.enable: requested 1 (cmdline), in effect zswap has no "
        "parameter 'enable'"), typo["failure"]["reason"]
    assert "zswap.enable=1" in typo["guest"]["cmdline"]  # the booted command line is recorded

    lz5 = by_label["zswap-lz5"]
    assert lz5["status"] == "failed"
    assert "zswap.compressor: requested lz5 (cmdline), in effect lzo" in \
        lz5["failure"]["reason"], lz5["failure"]["reason"]

    zram = by_label["zram"]
    assert zram["status"] == "passed", zram.get("failure")
    prio = {s["device"]: s["priority"] for s in zram["guest"]["swaps"]}
    assert prio["/dev/zram0"] > prio["/dev/vdb"]
    assert zram["settings"]["zram0 swap priority"]["ok"]
    assert zram["deltas"]["guest_zram0_write_ios"] > 0
    assert zram["checks"]["zram_took_writes"]["ok"]


OOM = """
name: oom
guest: {memory_mib: 192, accel: auto}
swap: {size_mib: 128}
kernels: [{name: cloud, kernel: distro:debian-6.1-cloud}]
workloads:
  - {name: stress-ng, params: {vm: 2, vm_bytes: 300M, vm_method: galpat-0, duration: 20},
     timeout_s: 300}
"""


def test_guest_oom_kill_fails_the_run(tmp_path):
    # Found: 2 x 300M stress-ng workers in a 192 MiB guest with 128 MiB swap: three OOM
    # kills, and the run passed.
    path = tmp_path / "oom.yaml"
    path.write_text(OOM)
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    (run,) = runs(tmp_path / "results").values()
    assert run["status"] == "failed"
    assert run["deltas"]["oom_kill"] > 0
    assert "oom" in run["failure"]["reason"].lower(), run["failure"]["reason"]
    assert "stress-ng" in run["failure"]["reason"]


def test_stress_ng_method_names_match_the_image():
    proc = tmemlab("boot", "distro:debian-6.1-cloud", "--swap", "0", "--",
                   "stress-ng --vm-method which 2>&1; true")
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = proc.stdout.split(":", 1)[1].split()
    assert tuple(listed) == STRESS_VM_METHODS
