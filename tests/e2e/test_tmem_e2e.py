"""The tmem path end to end: a config:tmem guest swapping over virtio-serial into the
Python host backend, with verification, and the faults that must never corrupt a page:
the backend killed mid-run (restarted with --durable) or stalled, the guest relay's worker
killed, and a backend refusing every put
(quota 0). The same for the write-behind frontend (tmem.mode=async, batched frames), where
a store has already returned success when the host refuses or loses its PUT, plus a small
quota (PUTs refused while in flight, accepted later)."""

import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = [pytest.mark.e2e, pytest.mark.tmem_kernel]

BASE = """
name: {name}
guest: {{memory_mib: 192, accel: auto, boot_timeout_s: 150}}
swap: {{size_mib: 512, iotune: {{total_bytes_sec: 209715200}}}}
kernels: [{{name: tmem, kernel: "config:tmem", cmdline: "{cmdline}"}}]
workloads:
  - {{name: pressure, params: {{size_pct_of_ram: 150, passes: {passes}, pattern: seq,
      write_ratio: 0.2}}, timeout_s: 900}}
backend: {backend}
faults: {faults}
"""


ASYNC = "tmem.mode=async tmem.window=64 tmem.batch=16"


def run_experiment(tmp_path, name, backend="{}", faults="[]", passes=1, cmdline=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(BASE.format(name=name, backend=backend, faults=faults, passes=passes,
                                cmdline=cmdline))
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
    # The relay holds the memory reserves its port writes may need (TMEM_IOC_MEMALLOC).
    (console,) = (tmp_path / "results").glob("tmem-*/console/*.log")
    assert "tmem-relay: may use the memory reserves" in console.read_text(errors="replace")


@pytest.mark.parametrize("name, cmdline, stores", [
    ("tmemkill", "", "succ_stores"),
    ("tmemasynckill", ASYNC, "tmem_async_stores"),
], ids=["sync", "async"])
def test_backend_killed_stalled_and_relay_killed_mid_run_loses_nothing(tmp_path, name,
                                                                         cmdline, stores):
    """Durable backend killed and restarted, then the guest relay's worker killed (its
    parent forks a new one), then the backend stopped (SIGSTOP) for 8 s: every page
    comes back intact, and the rows of the stall have no backend columns."""
    proc, run = run_experiment(
        tmp_path, name, backend="{durable: true}", passes=2, cmdline=cmdline,
        faults="[{at_s: 6, action: backend_kill, restart_after_s: 6}, "
               "{at_s: 14, action: relay_kill}, "
               "{at_s: 18, action: backend_stall, duration_s: 8}]")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    assert [e["event"] for e in run["faults"]] == [
        "backend_kill", "backend_restart", "relay_kill", "backend_stall", "backend_resume"]
    assert run["result"]["corrupted_pages"] == 0
    assert run["deltas"][stores] > 0
    assert run["summary"]["backend_samples_missed"] >= 5   # the kill's and the stall's rows
    assert run["summary"]["harness_samples_missed"] == 0


def test_backend_refusing_every_put_sends_everything_to_disk(tmp_path):
    proc, run = run_experiment(tmp_path, "tmemquota0", backend="{max_pages: 0}")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d = run["deltas"]
    assert run["result"]["corrupted_pages"] == 0
    assert d["succ_stores"] == 0 and d["failed_stores"] > 0
    assert d["pswpout"] > 0 and d["backend_good_puts"] == 0
    assert d["backend_rejects_quota_pages"] > 0


def test_async_batched_prefetched_pages_come_back_intact(tmp_path):
    proc, run = run_experiment(tmp_path, "tmemasync", backend="{compression: lz4}",
                               cmdline=ASYNC + " tmem.prefetch=8")
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d, s = run["deltas"], run["summary"]
    assert run["result"]["corrupted_pages"] == 0
    assert run["settings"]["tmem.mode"] == {"requested": "async", "effective": "async",
                                           "source": "cmdline", "ok": True}
    assert run["guest"]["tmem_parameters"]["batch"] == "16"
    assert d["tmem_async_stores"] > 0 and d["succ_stores"] == d["tmem_async_stores"]
    # batched: some PUTs shared a frame. How many depends on how many the relay finds
    # queued at each read (timing): that is the experiment's number, not this test's.
    assert d["backend_frames_put_batch"] > 0 and s["tmem_frames_per_put_page"] < 1.0
    assert d["relay_batched_requests"] > d["relay_put_batches"] > 0
    assert 0 < s["tmem_inflight_max_max"] <= 64
    assert s["tmem_buffer_bytes_max"] == (32 + 64 + 4 * 8) * 4096   # slots, window, prefetch
    # a sequential pass: loads find their pages prefetched by an earlier load's batch
    assert d["tmem_prefetch_hits"] > d["loads"] // 2
    assert d["backend_cpu_s"] > 0 and s["host_cpu_us_per_swapped_page"] > 0
    assert all(c["ok"] for c in run["checks"].values()), run["checks"]


def test_async_backend_refusing_every_put_keeps_promised_pages(tmp_path):
    """Quota 0: every PUT is refused after its store returned success. The window slots
    keep those pages (loads are served from them), refused PUTs are re-sent with backoff,
    and once refused PUTs hold the window, further stores go straight to disk."""
    proc, run = run_experiment(tmp_path, "tmemasyncq0", backend="{max_pages: 0}",
                               cmdline=ASYNC)
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d = run["deltas"]
    assert run["result"]["corrupted_pages"] == 0
    assert d["tmem_put_refused"] > 0 and d["tmem_succ_stores"] == 0
    assert d["backend_good_puts"] == 0 and d["backend_rejects_quota_pages"] > 0
    assert d["tmem_window_full"] > 0 and d["pswpout"] > 0
    assert run["checks"]["stores_match_backend_good_puts"]["ok"], run["checks"]


def test_async_small_quota_refuses_in_flight_puts_and_loses_nothing(tmp_path):
    """A quota far below the working set: PUTs are refused while in flight once it is
    full, kept, and re-sent; the guest's frees make room and some go through later."""
    proc, run = run_experiment(tmp_path, "tmemasyncq", backend="{max_pages: 3000}",
                               passes=2, cmdline=ASYNC)
    assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
    d = run["deltas"]
    assert run["result"]["corrupted_pages"] == 0
    assert d["tmem_put_refused"] > 0 and d["tmem_succ_stores"] > 0
    assert d["backend_rejects_quota_pages"] > 0
    assert all(c["ok"] for c in run["checks"].values()), run["checks"]
