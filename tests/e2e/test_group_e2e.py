"""Group runs with real guests: config:tmem guests at once on one backend, each in its own
namespace with its own quota, its pages verified, the group recorded; a third guest
sending the first one's pool ids and offsets over a port of its own gets nothing; and a
group whose one guest fails: the other's workload is cut short and no QEMU is left."""

import csv
import json

import pytest

from tests.e2e.conftest import qemu_pids, tmemlab

pytestmark = [pytest.mark.e2e, pytest.mark.tmem_kernel]

SHARED = """
name: pair
guest: {memory_mib: 128, boot_timeout_s: 240}
swap: {size_mib: 384, iotune: {total_bytes_sec: 209715200}}
backend: {compression: lz4}
group:
  guests: 3
  members:
    - {params: {seed: 11, passes: 2}}
    - {params: {seed: 22}, quota_mib: 8, weight: 300, start_delay_s: 4}
    - {workload: tmem-pools, params: {probe: 512}, start_delay_s: 25}
kernels: [{name: tmem, kernel: "config:tmem"}]
workloads:
  - {name: pressure, params: {size: 160M, passes: 1, pattern: random, write_ratio: 0.2},
     timeout_s: 900}
"""

FAILING = """
name: broken
guest: {memory_mib: 128, boot_timeout_s: 240}
swap: {size_mib: 128}
group:
  guests: 2
  members:
    - {params: {duration: 600}}
    - {params: {size: 1G}}          # RAM + swap are 256 MiB: the OOM killer ends it
kernels: [{name: disk, kernel: "distro:debian-6.1", cmdline: zswap.enabled=0}]
workloads:
  - {name: pressure, params: {size: 96M, pattern: seq}, timeout_s: 900}
"""


def run(tmp_path, text):
    path = tmp_path / "group.yaml"
    path.write_text(text)
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    (folder,) = (tmp_path / "results").iterdir()
    runs = {p.stem: json.loads(p.read_text()) for p in (folder / "runs").glob("*.json")}
    return proc, folder, runs


def test_two_guests_share_one_backend_each_in_its_own_namespace(tmp_path):
    proc, folder, runs = run(tmp_path, SHARED)
    assert set(runs) == {"tmem+pressure-i1", "tmem+pressure.g0-i1", "tmem+pressure.g1-i1",
                         "tmem+pressure.g2-i1"}
    group, g0, g1, g2 = (runs["tmem+pressure-i1"], runs["tmem+pressure.g0-i1"],
                         runs["tmem+pressure.g1-i1"], runs["tmem+pressure.g2-i1"])
    assert proc.returncode == 0, (group["failure"], proc.stderr[-3000:])
    assert group["kind"] == "group" and group["status"] == "passed"
    for member, seed in ((g0, 11), (g1, 22)):
        # different seeds write different pages: a page served from the other guest's
        # namespace would fail verification
        assert member["result"]["corrupted_pages"] == 0 and member["result"]["seed"] == seed
        assert member["backend"]["guest"]["good_puts"] > 0
        assert member["deltas"]["succ_stores"] > 0 and member["deltas"]["loads"] > 0
    # one backend, two namespaces: each guest's quota and weight are its own
    assert g0["backend"]["guest"]["max_pages"] == 384 << 8       # its swap size
    assert g1["backend"]["guest"]["max_pages"] == 8 << 8         # quota_mib: 8
    assert g1["backend"]["guest"]["weight"] == 300
    assert g1["backend"]["guest"]["rejects"].get("quota_pages", 0) > 0
    assert not g0["backend"]["guest"].get("rejects", {}).get("quota_pages")
    # the second guest started its workload after the first (start_delay_s: 4)
    assert g1["workload_started_wall"] - g0["workload_started_wall"] >= 3.5
    held = [m["backend_stored_pages_max"] for m in group["group"]["members"]]
    assert held[1] <= 8 << 8 and held[0] > held[1]
    with open(folder / "series" / "tmem+pressure-i1.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"g0_backend_stored_bytes", "g1_backend_stored_bytes", "host_rss_bytes"} \
        <= set(rows[-1])
    # isolation: the third guest asked its own namespace for pool ids 0..31, offsets
    # 0..511 (the first guest's frontswap ids) while the first guest held pages there
    probe = g2["result"]["probe"]
    assert g2["workload"]["name"] == "tmem-pools" and g2["status"] == "passed"
    assert probe["gets"] == 32 * 512 and probe["found"] == 0
    assert probe["bad_pool"] + probe["not_found"] == probe["gets"]
    end = g2["workload_started_wall"] + g2["workload_wall_s"] - group["group"]["started_wall"]
    during = [r for r in rows if float(r["t"]) <= end]
    assert float(during[-1]["g0_backend_stored_pages"]) > 0
    # the backend served every probe GET frame from the prober's own (empty) namespace
    prober = g2["backend"]["pools_guest"]
    assert prober["latency"]["get"]["count"] == probe["gets"]
    assert prober["found_gets"] == 0 and prober["stored_pages"] == 0
    result = group["result"]   # the group's numbers are its pressure guests' and the probe's
    assert result["corrupted_pages"] == 0
    assert (folder / "OVERCOMMIT.md").is_file()
    assert list((folder / "plots").glob("pool-share-*.png"))


def test_one_failed_guest_fails_the_group_and_stops_the_other(tmp_path):
    proc, _folder, runs = run(tmp_path, FAILING)
    group, g0, g1 = (runs["disk+pressure-i1"], runs["disk+pressure.g0-i1"],
                     runs["disk+pressure.g1-i1"])
    assert proc.returncode != 0
    assert g1["status"] == "failed" and "OOM" in g1["failure"]["reason"], g1["failure"]
    # the other guest's 600 s workload was cut short and its record says why
    assert g0["status"] == "failed" and "group failed" in g0["failure"]["reason"]
    assert g0["workload_wall_s"] < 300
    assert group["status"] == "failed"
    assert qemu_pids(f"tmemlab-{proc.pid}-") == []
