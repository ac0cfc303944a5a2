"""Kernel log classification on captured console/dmesg text (tests/data/kernel-log)."""

from pathlib import Path

import pytest

from harness.vm import console, health

DATA = Path(__file__).resolve().parents[2] / "data" / "kernel-log"


def logs(**named: str) -> dict[str, str]:
    return {source: (DATA / name).read_text() for source, name in named.items()}


def test_zswap_bug_then_invalid_opcode_fails_with_the_bug_line():
    """The issue's finding: 6.1 x86 prints a BUG() as these two lines; neither matched."""
    kl = health.assess(logs(console="zswap-bug-console.log"), "tcg")
    assert [m["pattern"] for m in kl["fatal"]] == ["kernel_bug", "invalid_opcode"]
    assert health.failure(kl) == "kernel failure on console: kernel BUG at mm/zswap.c:1234!"
    assert kl["fatal"][0]["time"] == pytest.approx(41.204512)
    assert kl["warning"] == [] and kl["stall"] == []
    assert console.kernel_failure(DATA / "zswap-bug-console.log") == \
        "kernel BUG at mm/zswap.c:1234!"


def test_warning_is_listed_and_does_not_fail():
    kl = health.assess(logs(dmesg="lkdtm-warning-dmesg.log"), "tcg")
    assert health.failure(kl) is None
    assert [m["pattern"] for m in kl["warning"]] == ["warn", "oom_kill"]
    assert kl["warning"][0]["line"].startswith("WARNING: CPU: 1 PID: 412 at ")
    assert kl["warning"][0]["source"] == "dmesg"
    assert kl["counts"] == {"warn": 1, "oom_kill": 1}
    assert health.warnings(kl)[0].startswith("warn: WARNING: CPU: 1")


def test_persistent_soft_lockup_is_fatal_under_tcg():
    kl = health.assess(logs(dmesg="softlockup-dmesg.log"), "tcg")
    reason = health.failure(kl)
    assert reason.startswith("kernel failure on dmesg: watchdog: BUG: soft lockup - CPU#1 "
                             "stuck for 15s!")
    assert "persistent: soft_lockup:1 reported 3 times" in reason
    # the first report stays an emulation stall; the repeats are what make it fatal
    assert [m["line"] for m in kl["stall"] if m["pattern"] == "soft_lockup"] == \
        ["watchdog: BUG: soft lockup - CPU#1 stuck for 7s! [sh:415]"]
    assert [m["pattern"] for m in kl["fatal"]] == ["soft_lockup", "soft_lockup"]
    assert kl["counts"]["soft_lockup"] == 3 and kl["counts"]["rcu_stall"] == 1


def test_transient_stalls_under_tcg_are_listed_not_fatal():
    kl = health.assess(logs(dmesg="tcg-transient-stall-dmesg.log"), "tcg")
    assert health.failure(kl) is None
    assert [m["pattern"] for m in kl["stall"]] == ["rcu_stall", "rcu_kthread_starved",
                                                  "soft_lockup"]
    assert [m["pattern"] for m in kl["warning"]] == ["page_allocation_failure"]


def test_any_stall_is_fatal_under_kvm():
    kl = health.assess(logs(dmesg="tcg-transient-stall-dmesg.log"), "kvm")
    assert health.failure(kl) == ("kernel failure on dmesg: rcu: INFO: rcu_preempt "
                                  "self-detected stall on CPU (rcu_stall under kvm)")
    assert kl["stall"] == []


def test_long_soft_lockup_is_persistent_even_once():
    kl = health.assess({"dmesg": "[ 5.0] watchdog: BUG: soft lockup - CPU#0 stuck for 61s! "
                                 "[x:1]\n"}, "tcg")
    assert "stuck for 61 s" in health.failure(kl)


def test_same_line_in_console_and_dmesg_is_one_match():
    line = "[   41.204512] kernel BUG at mm/zswap.c:1234!\n"
    kl = health.assess({"console": "noise\r\n" + line.replace("\n", "\r\n"), "dmesg": line},
                       "tcg")
    assert len(kl["fatal"]) == 1 and kl["fatal"][0]["source"] == "console+dmesg"
    assert health.failure(kl).startswith("kernel failure on console and dmesg: kernel BUG")


def test_first_fatal_is_earliest_in_kernel_time():
    kl = health.assess({"console": "[ 9.0] Kernel panic - not syncing: Fatal exception\n",
                        "dmesg": "[ 2.0] BUG: Bad page state in process pressure  pfn:1a2b3\n"},
                       "tcg")
    assert health.failure(kl) == ("kernel failure on dmesg: BUG: Bad page state in process "
                                  "pressure  pfn:1a2b3")


@pytest.mark.parametrize("line, name, cls", [
    ("Kernel panic - not syncing: Fatal exception", "kernel_panic", "fatal"),
    ("BUG: kernel NULL pointer dereference, address: 0000000000000008", "bug", "fatal"),
    ("BUG: unable to handle page fault for address: ffffa0f2c0000000", "bug", "fatal"),
    ("BUG: KASAN: use-after-free in zswap_frontswap_load+0x1/0x2", "kasan", "fatal"),
    ("BUG: KFENCE: out-of-bounds read in test_read+0x1/0x2", "kfence", "fatal"),
    ("BUG: Bad page map in process pressure  pte:8000000012345067", "bad_page", "fatal"),
    ("BUG: sleeping function called from invalid context at mm/tmem.c:99", "bug", "fatal"),
    ("Oops: 0002 [#1] PREEMPT SMP NOPTI", "oops", "fatal"),
    ("general protection fault, probably for non-canonical address 0xdead000000000100: "
     "0000 [#1] PREEMPT SMP NOPTI", "general_protection_fault", "fatal"),
    ("stack segment: 0000 [#1] PREEMPT SMP NOPTI", "oops_header", "fatal"),
    ("Unable to handle kernel paging request at virtual address dead", "unable_to_handle",
     "fatal"),
    ("Read-error on swap-device (254:16:81920)", "swap_read_error", "fatal"),
    ("Write-error on swap-device (254:16:81920)", "swap_write_error", "fatal"),
    ("swap_info_get: Bad swap file entry 3ffffffffffff", "swap_bad_entry", "fatal"),
    ("zram: Decompression failed! err=-22, page=1234", "zram_decompress_failed", "fatal"),
    ("zram: Compression failed! err=-22", "zram_compress_failed", "fatal"),
    ("zswap: Decompression error from zswap (1:4 lz4 2048->-22)", "zswap_decompress_failed",
     "fatal"),
    ("Kernel panic - not syncing: tmem: host backend lost its store (epoch 1 -> 2) while "
     "holding 5 swapped-out pages", "tmem_store_lost", "fatal"),
    ("Kernel panic - not syncing: tmem: swap type 0 offset 77: no page from the host after "
     "30 s; refusing to read an unwritten swap slot", "tmem_load_timeout", "fatal"),
    ("tmem: init failed (-12): swap goes to disk only", "tmem_init_failed", "fatal"),
    ("list_del corruption. prev->next should be ffff, but was dead", "list_corruption",
     "fatal"),
    ("WARNING: CPU: 0 PID: 1 at drivers/block/zram/zram_drv.c:1321 zram_bvec_rw+0x1/0x2",
     "warn", "warning"),
    ("WARNING: possible circular locking dependency detected", "warning", "warning"),
    ("kswapd0: page allocation failure: order:0, mode:0x820(GFP_ATOMIC)",
     "page_allocation_failure", "warning"),
    ("zswap: compressor lz5 not available, using default lzo", "zswap_setting", "warning"),
    ("tmem: backend refused HELLO (status -3); no session", "tmem_hello_refused", "warning"),
    ("tmem: PUT type 0 offset 12: status -5", "tmem_put_error", "warning"),
    ("tmem: GET type 0 offset 12 unanswered after 500 ms (session 3), retrying",
     "tmem_get_retry", "warning"),
    ("tmem: relay reports the backend gone: stores fail, loads wait", "tmem_backend_gone",
     "warning"),
    ("tmem: backend epoch 3 -> 4, no pages held: new pools", "tmem_new_epoch", "warning"),
    ("clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable "
     "because the skew is too large:", "clocksource_unstable", "warning"),
    ("watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kswapd0:33]", "soft_lockup",
     "stall"),
    ("NMI watchdog: Watchdog detected hard LOCKUP on cpu 1", "hard_lockup", "stall"),
    ("rcu: INFO: rcu_sched self-detected stall on CPU", "rcu_stall", "stall"),
    ("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "rcu_stall", "stall"),
    ("INFO: task kworker/0:1:23 blocked for more than 120 seconds.", "hung_task", "stall"),
    ("BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!",
     "workqueue_lockup", "stall"),
])
def test_pattern_table(line, name, cls):
    pattern, _match = health.classify_line(line)
    assert (pattern.name, pattern.cls) == (name, cls)


@pytest.mark.parametrize("line", [
    "tmemlab rc: swap on /dev/vdb",
    "zswap: loaded using pool lzo/zbud",
    "tmem: registered frontswap backend",
    "lkdtm_lite: loading out-of-tree module taints kernel.",
    "pressure invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE), order=0",
    "Run /sbin/init as init process",
])
def test_healthy_lines_match_nothing(line):
    assert health.classify_line(line) is None


def test_every_pattern_is_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "KERNEL_HEALTH.md").read_text()
    for pattern in health.PATTERNS:
        assert f"`{pattern.name}`" in doc, pattern.name


def test_lists_are_capped_but_counted():
    text = "".join(f"[ {i}.0] WARNING: CPU: 0 PID: 1 at x.c:{i} f+0x1/0x2\n"
                   for i in range(100))
    kl = health.assess({"dmesg": text}, "tcg")
    assert len(kl["warning"]) == health.MAX_LISTED
    assert kl["counts"]["warn"] == 100 and kl["truncated"] == {"warning": 60}


def test_boot_fallback_that_the_rc_corrected_is_settled_not_a_warning():
    # Seen in the smoke experiment: zswap refuses lz4/z3fold at boot (modules cannot load
    # yet), the guest rc sets them through sysfs, and the settings read-back proves them.
    text = ("[    0.95] zswap: compressor lz4 not available, using default lzo\n"
            "[    0.96] zswap: zpool z3fold not available, using default zbud\n")
    log = health.assess({"console": text}, "tcg")
    assert [w["pattern"] for w in log["warning"]] == ["zswap_setting", "zswap_setting"]
    settings = {"zswap.compressor": {"ok": True, "effective": "lz4"},
                "zswap.zpool": {"ok": False, "effective": "zbud"}}
    settled = health.settle(log, settings)
    assert [w["line"] for w in settled["warning"]] == [
        "zswap: zpool z3fold not available, using default zbud"]
    assert settled["settled"][0]["why"] == "zswap.compressor read back in effect: lz4"
