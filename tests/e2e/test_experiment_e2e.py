"""One real experiment, three kernels configurations: disk swap, zswap, and a kernel that
cannot boot. Checks that swapping really happened, nothing was corrupted, counters keep
their kernel names, and a broken run fails cleanly while the experiment goes on."""

import csv
import json

import pytest

from tests.e2e.conftest import qemu_pids, tmemlab

pytestmark = pytest.mark.e2e

EXPERIMENT = """
name: e2e
guest: {memory_mib: 192, vcpus: 1, accel: auto, boot_timeout_s: 150}
swap: {size_mib: 512, cache: none, iotune: {total_bytes_sec: 209715200}}
kernels:
  - {name: disk, kernel: distro:debian-6.1, cmdline: zswap.enabled=0}
  - {name: zswap, kernel: distro:debian-6.1,
     cmdline: zswap.enabled=1 zswap.compressor=lz4 zswap.zpool=z3fold}
  - {name: broken, kernel: distro:debian-6.1, cmdline: rdinit=/does-not-exist}
workloads:
  - name: pressure
    params: {size_pct_of_ram: 150, passes: 1, pattern: seq, write_ratio: 0.2}
    timeout_s: 900
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    path = tmp / "e2e.yaml"
    path.write_text(EXPERIMENT)
    proc = tmemlab("run", str(path), "--results", str(tmp / "results"))
    dirs = list((tmp / "results").iterdir())
    assert len(dirs) == 1, proc.stderr
    runs = {p.stem: json.loads(p.read_text()) for p in (dirs[0] / "runs").glob("*.json")}
    return proc, dirs[0], runs


def test_failed_run_makes_the_experiment_exit_1(experiment):
    proc, _dir, runs = experiment
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert sorted(runs) == ["broken+pressure-i1", "disk+pressure-i1", "zswap+pressure-i1"]


def test_disk_swap_run_swapped_and_verified_every_page(experiment):
    _proc, _dir, runs = experiment
    run = runs["disk+pressure-i1"]
    assert run["status"] == "passed", run.get("failure")
    assert run["result"]["corrupted_pages"] == 0
    assert run["result"]["verified_pages"] >= run["result"]["pages"]
    assert run["deltas"]["pswpout"] > 0
    assert run["deltas"]["swap_disk_write_bytes"] > 0
    assert run["guest"]["accel"] in ("kvm", "tcg")
    assert run["kernel"]["package"].startswith("linux-image-6.1.0-")


def test_zswap_run_went_through_zswap_with_requested_parameters(experiment):
    _proc, _dir, runs = experiment
    run = runs["zswap+pressure-i1"]
    assert run["status"] == "passed", run.get("failure")
    assert run["result"]["corrupted_pages"] == 0
    assert run["deltas"]["zswpout"] > 0
    assert run["guest"]["zswap_parameters"]["compressor"] == "lz4"
    assert run["guest"]["zswap_parameters"]["zpool"] == "z3fold"
    assert run["summary"]["stored_pages_max"] > 0


def test_broken_kernel_run_failed_with_console_tail(experiment):
    _proc, _dir, runs = experiment
    run = runs["broken+pressure-i1"]
    assert run["status"] == "failed"
    assert "before SSH" in run["failure"]["reason"]
    assert "Kernel panic" in run["failure"]["console_tail"]


def test_results_folder_is_complete(experiment):
    _proc, results, _runs = experiment
    versions = json.loads((results / "versions.json").read_text())
    assert versions["accel"] in ("kvm", "tcg") and versions["qemu"] and versions["libvirt"]
    assert versions["image"]["hash"]
    with open(results / "series" / "disk+pressure-i1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 3 and "pswpout" in rows[0] and "qemu_rss_bytes" in rows[0]
    assert (results / "console" / "broken+pressure-i1.log").stat().st_size > 0
    assert "disk+pressure-i1" in (results / "summary.md").read_text()
    assert (results / "experiment.yaml").exists()


def test_no_qemu_left_behind(experiment):
    proc, _dir, _runs = experiment
    assert qemu_pids(f"guest=tmemlab-{proc.pid}-") == []
