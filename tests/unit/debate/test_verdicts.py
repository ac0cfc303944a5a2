"""The debate's verdicts on fixed results folders: each verdict follows from the numbers."""

import pytest

from harness.report.debate import arms, verdicts
from tests.unit.debate.conftest import HDD, NVME, SSD, arm


def findings(folder, records):
    _dirs, found = arms.load([folder(records)])
    return {f.key: f for f in verdicts.findings(found)}


def test_arms_are_classified_from_what_was_in_effect_not_from_labels(folder):
    _d, found = arms.load([folder(
        arm("disk-nvme", [100], iotune=HDD, divisor=30.0)
        + arm("tmem-x", [100], tmem="async+batch")
        + arm("tmem-y", [100], tmem="sync", iotune={"total_iops_sec": 7}))])
    by = {a.label.split("+")[0]: a for a in found}
    assert by["disk-nvme"].technique == "disk" and by["disk-nvme"].disk == "hdd"
    assert by["disk-nvme"].dilated and by["disk-nvme"].name == "disk hdd (dilated)"
    assert by["tmem-x"].name == "tmem async+batch"
    assert by["tmem-y"].shape == "sync" and by["tmem-y"].disk == "custom-7iops"


SYNC = [1000, 1010, 990]


@pytest.mark.parametrize("async_pps, verdict, words", [
    ([1500, 1510, 1490], verdicts.SUPPORTED, "+50"),
    ([600, 610, 590], verdicts.REFUTED, "-40"),
    ([1000, 1200, 850], verdicts.DEPENDS, "no significant difference"),
])
def test_synchronous_verdict_follows_the_throughput_test(folder, async_pps, verdict, words):
    f = findings(folder, arm("tmem-sync", SYNC, tmem="sync")
                 + arm("tmem-async", async_pps, tmem="async"))["sync"]
    assert f.verdict == verdict and words in f.reason
    assert f.line.startswith(f"Verdict: {verdict} — ")


def test_one_run_per_arm_is_never_a_verdict_either_way(folder):
    f = findings(folder, arm("s", [1000], tmem="sync") + arm("a", [3000], tmem="async"))
    assert f["sync"].verdict == verdicts.DEPENDS and "no test" in f["sync"].reason


def test_missing_arms_are_not_measured_and_say_what_is_missing(folder):
    f = findings(folder, arm("d", SYNC, iotune=SSD, disk_read_ms=0.2))
    assert f["sync"].verdict == verdicts.NOT_MEASURED and "async" in f["sync"].reason
    assert f["4k"].verdict == verdicts.NOT_MEASURED
    assert f["copy"].verdict == verdicts.NOT_MEASURED


def disks(hdd_ms, nvme_ms, divisor=30.0):
    return (arm("disk-hdd", [50, 52, 51], iotune=HDD, divisor=divisor, disk_read_ms=hdd_ms)
            + arm("disk-nvme", [900, 910, 905], iotune=NVME, divisor=divisor,
                  disk_read_ms=nvme_ms))


def test_disk_access_depends_when_only_slow_classes_are_far_behind(folder):
    f = findings(folder, disks(200.0, 0.5) + arm("s", SYNC, tmem="sync", rtt_us=100))["disk"]
    assert f.verdict == verdicts.DEPENDS
    assert "hdd: 2e+03×" in f.reason and "nvme: 5×" in f.reason and "dilated" in f.reason
    assert "beats disk hdd (dilated)" in f.reason   # the crossover, from throughput


def test_disk_access_crossover_for_sync_and_batched_async(folder):
    f = findings(folder, disks(200.0, 0.5) + arm("s", SYNC, tmem="sync", rtt_us=100)
                 + arm("b", [950, 960, 955], tmem="async+batch"))["disk"]
    assert "tmem sync throughput beats disk hdd (dilated), disk nvme (dilated)" in f.reason
    assert "tmem async+batch throughput beats disk hdd (dilated), disk nvme" in f.reason
    assert f.header[-2:] == ("tmem sync vs disk", "tmem async+batch vs disk")


def test_disk_access_supported_when_every_class_is_two_orders_slower(folder):
    f = findings(folder, disks(200.0, 20.0) + arm("s", SYNC, tmem="sync", rtt_us=100))["disk"]
    assert f.verdict == verdicts.SUPPORTED


def test_disk_access_refuted_when_no_class_is_an_order_slower(folder):
    f = findings(folder, disks(0.5, 0.2) + arm("s", SYNC, tmem="sync", rtt_us=100))["disk"]
    assert f.verdict == verdicts.REFUTED


def test_disk_access_judges_on_dilated_arms_when_there_are_both(folder):
    recs = (disks(200.0, 20.0) + [dict(r, label="u" + r["label"], run_id="u" + r["run_id"])
                                  for r in disks(0.1, 0.1, divisor=1.0)]
            + arm("s", SYNC, tmem="sync", rtt_us=100))
    f = findings(folder, recs)["disk"]
    assert f.verdict == verdicts.SUPPORTED and "(dilated disk arms" in f.reason
    assert len(f.rows) == 4  # every disk arm is shown, dilated or not


def test_batching_reports_frames_per_page_beside_the_verdict(folder):
    f = findings(folder, arm("a", SYNC, tmem="async", frames=1.0)
                 + arm("b", [1300, 1310, 1290], tmem="async+batch", frames=0.2))["batch"]
    assert f.verdict == verdicts.SUPPORTED
    assert "tmem async: 1" in f.reason and "tmem async+batch: 0.2" in f.reason


def test_xen_claim_needs_both_cpu_and_throughput_up(folder):
    disk = arm("d", SYNC, iotune=SSD, divisor=30.0, host_cpu_s=5.0)
    both_up = arm("t", [2000, 2020, 1990], tmem="sync", host_cpu_s=15.0)
    assert findings(folder, disk + both_up)["xen"].verdict == verdicts.SUPPORTED
    thr_down = arm("t", [500, 510, 505], tmem="sync", host_cpu_s=15.0)
    assert findings(folder, disk + thr_down)["xen"].verdict == verdicts.REFUTED
    mixed = thr_down + [dict(r, label="t2+pressure", run_id=f"t2-{i}")
                        for i, r in enumerate(both_up)]
    f = findings(folder, disk + mixed)["xen"]
    assert f.verdict == verdicts.DEPENDS
    assert f.reason == "tmem sync: holds against disk sata-ssd (dilated), not against " \
        "disk sata-ssd (dilated) (throughput not up)"
    assert [r[0] for r in f.rows] == ["disk sata-ssd (dilated)", "tmem sync", "tmem sync"]


def test_failed_runs_do_not_count(folder):
    recs = arm("s", SYNC, tmem="sync") + arm("a", [5000, 5000, 5000], tmem="async",
                                             status="failed")
    f = findings(folder, recs)["sync"]
    assert f.verdict == verdicts.DEPENDS and "n/a" in f.reason


@pytest.mark.parametrize("rtt_us, verdict, share", [
    (100, verdicts.REFUTED, "7.3%"), (30, verdicts.DEPENDS, "24%"),
    (10, verdicts.SUPPORTED, "74%")])
def test_zero_copy_weighs_the_counted_copies_against_the_round_trip(folder, rtt_us, verdict,
                                                                    share):
    # sync, unbatched: PUT 3 guest + 3 host copies, GET 4 + 4; guest memcpy 2 µs, host 0.1 µs
    # → (6.3 + 8.4) / 2 = 7.35 µs of copies per page moved
    f = findings(folder, arm("s", SYNC, tmem="sync", rtt_us=rtt_us))["copy"]
    assert f.verdict == verdict and f"copies are {share} of the round trip" in f.reason
    assert f.rows[0][1:3] == ("6", "8") and "6 copies per PUT" in f.reason


def test_relay_batching_adds_the_pack_copy(folder):
    f = findings(folder, arm("b", SYNC, tmem="async+batch", rtt_us=100))["copy"]
    assert f.rows[0][1:3] == ("7", "8")


def thp_arm(reject_compound, fault_alloc=40):
    return arm("thp", [500, 510], tmem="sync", thp=True, deltas={
        "tmem_reject_compound": reject_compound, "thp_fault_alloc": fault_alloc,
        "thp_swpout": reject_compound, "thp_swpout_fallback": 0,
        "succ_stores": 9000, "pswpout": 1000 + 512 * reject_compound})


@pytest.mark.parametrize("rejects, verdict, words", [
    (10, verdicts.SUPPORTED, "33.9% of the pages swapped out went past tmem"),
    (0, verdicts.REFUTED, "split before swap-out"),
])
def test_four_k_share_of_swap_that_bypasses_tmem_as_huge_pages(folder, rejects, verdict,
                                                               words):
    # 10 huge pages = 5120 base pages of 9000 + 1000 + 5120 swapped out
    f = findings(folder, thp_arm(rejects) + arm("s", SYNC, tmem="sync"))
    assert f["4k"].verdict == verdict and words in f["4k"].reason
    assert f["4k"].rows[0][0] == "tmem sync THP"
    # the THP arm is not a sync arm of the other findings
    assert all("THP" not in row[0] for row in f["sync"].rows)


def test_four_k_without_huge_pages_is_not_measured(folder):
    f = findings(folder, thp_arm(0, fault_alloc=0))["4k"]
    assert f.verdict == verdicts.NOT_MEASURED and "no huge pages" in f.reason


def pools_arm(corrupted=0, gone=True):
    sizes = [{"page_size": s, "batched": b, "batch": 32 if b else 1, "pages": 8,
              "corrupted": corrupted if s == 2097152 else 0, "gone_after_flush": gone,
              "put": {"pages": 8, "bytes_per_sec": 1e8, "lat_us": {"p50": 50.0}},
              "get": {"pages": 8, "bytes_per_sec": 2e8, "lat_us": {"p50": 40.0}}}
             for s in (4096, 65536, 2097152) for b in (False, True)]
    recs = arm("pools", [0], tmem="sync")
    recs[0]["workload"]["name"] = "tmem-pools"
    recs[0]["result"] = {"sizes": sizes, "corrupted_pages": corrupted}
    return recs


def test_four_k_pools_verified_and_thp_bypassing_means_depends(folder):
    f = findings(folder, pools_arm() + thp_arm(10))["4k"]
    assert f.verdict == verdicts.DEPENDS
    assert "pages of 4 KiB … 2 MiB went guest → host → guest verified" in f.reason
    assert "33.9%" in f.reason and len(f.rows) == 6 + 2


def test_four_k_pools_alone_answer_the_abi_half(folder):
    f = findings(folder, pools_arm())["4k"]
    assert f.verdict == verdicts.DEPENDS and "not measured" in f.reason
    bad = findings(folder, pools_arm(corrupted=1))["4k"]
    assert bad.verdict == verdicts.SUPPORTED and "2 MiB failed end to end" in bad.reason


def test_disk_limits_that_never_bind_are_named(folder):
    hdd = arm("disk-hdd", [300, 310, 305], iotune=HDD, disk_read_ms=6.7)
    nvme = arm("disk-nvme", [3700, 3600, 3650], iotune=NVME, divisor=8.0, disk_read_ms=0.45)
    for r in hdd:
        r["guest"]["swap_iotune"] = HDD
    for r in nvme:
        r["guest"]["swap_iotune"] = {"total_iops_sec": 62500}
    f = findings(folder, hdd + nvme + arm("s", SYNC, tmem="sync", rtt_us=500))["disk"]
    assert [row[1:3] for row in f.rows] == [("150", "yes"), ("6.25e+04", "no")]
    assert "the nvme limit did not bind" in f.reason


def test_xen_claim_with_one_run_a_side_is_not_refuted(folder):
    f = findings(folder, arm("d", [1000], iotune=SSD, host_cpu_s=5.0)
                 + arm("t", [500], tmem="sync", host_cpu_s=15.0))["xen"]
    assert f.verdict == verdicts.DEPENDS and "untested: n<2" in f.reason
