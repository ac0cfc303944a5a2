"""Parsers against a sampler record captured from a real Debian 6.1 guest
(tests/data/sampler-zswap.txt: zswap lz4/z3fold on, after a 256M pressure run)."""

from pathlib import Path

import pytest

from harness.run import monitors, parsers

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def record():
    records = parsers.parse_sampler((DATA / "sampler-zswap.txt").read_text())
    assert len(records) == 1
    return records[0]


def test_sampler_record_holds_every_readable_file(record):
    files = record["files"]
    assert record["t"] > 0
    assert "/proc/vmstat" in files and "/proc/pressure/memory" in files
    assert "/sys/kernel/debug/zswap/stored_pages" in files
    assert "/sys/kernel/debug/tmem" not in files  # "!!!" marks an unreadable file


def test_guest_row_keeps_kernel_counter_names(record):
    row = parsers.parse_guest_record(record["files"])
    for name in ("pswpin", "pswpout", "zswpin", "zswpout", "pgmajfault", "pgscan_kswapd",
                 "stored_pages", "same_filled_pages", "succ_stores", "failed_stores",
                 "loads", "invalidates", "MemTotal_kb", "SwapFree_kb", "psi_some_avg10",
                 "psi_full_total_us", "cpu_user_s", "cpu_system_s", "cpu_iowait_s",
                 "cpu_steal_s"):
        assert name in row, name
    assert row["stored_pages"] == 1816 and row["succ_stores"] == 43157
    assert row["zswpout"] > 0 and row["MemTotal_kb"] > 100000


def test_psi_and_cpu_parsers():
    psi = parsers.parse_psi("some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\n"
                            "full avg10=0.75 avg60=0.10 avg300=0.00 total=6789\n")
    assert psi == {"psi_some_avg10": 1.5, "psi_some_avg60": 0.2, "psi_some_avg300": 0.0,
                   "psi_some_total_us": 12345, "psi_full_avg10": 0.75,
                   "psi_full_avg60": 0.1, "psi_full_avg300": 0.0, "psi_full_total_us": 6789}
    cpu = parsers.parse_cpu("cpu  100 5 250 1000 40 0 3 7 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
    assert cpu["cpu_user_s"] == 1.0 and cpu["cpu_system_s"] == 2.5
    assert cpu["cpu_iowait_s"] == 0.4 and cpu["cpu_steal_s"] == 0.07


def test_swaps_parser():
    swaps = parsers.parse_swaps((DATA / "sampler-zswap.txt").read_text().split(
        "=== end\n")[1])
    assert swaps == [{"device": "/dev/vdb", "type": "partition", "size_kb": 262140,
                      "used_kb": 7216, "priority": -2}]


def test_qemu_proc_stat():
    stat = "1234 (qemu-system-x86) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 1 1"
    got = parsers.qemu_proc_stat(stat, "Name:\tqemu\nVmRSS:\t  2048 kB\n", 100)
    assert got == {"qemu_cpu_user_s": 2.5, "qemu_cpu_system_s": 0.5, "qemu_cpu_s": 3.0,
                   "qemu_rss_bytes": 2048 * 1024}


def test_sampler_tolerates_a_record_split_mid_stream():
    text = "=== 1.0 2.0\n--- /proc/vmstat\npswpin 1\n=== end\n=== 2.0 3.0\n--- /proc/vm"
    assert len(parsers.parse_sampler(text)) == 1


def test_summarize_deltas_counters_and_summarises_gauges():
    rows = [{"t": 0, "pswpout": 10, "cpu_user_s": 1.0, "stored_pages": 5,
             "psi_some_avg10": 1.0, "MemFree_kb": 900, "nr_free_pages": 50},
            {"t": 1, "pswpout": 15, "cpu_user_s": 1.5, "stored_pages": 9,
             "psi_some_avg10": 4.0, "MemFree_kb": 100, "nr_free_pages": 20},
            {"t": 2, "pswpout": 30, "cpu_user_s": 2.25, "stored_pages": 7,
             "psi_some_avg10": 2.0, "MemFree_kb": 120, "nr_free_pages": 25}]
    deltas, summary = monitors.summarize(rows)
    assert deltas == {"pswpout": 20, "cpu_user_s": 1.25}
    assert summary["stored_pages_max"] == 9 and summary["stored_pages_end"] == 7
    assert summary["psi_some_avg10_max"] == 4.0 and summary["MemFree_kb_end"] == 120
    assert summary["samples"] == 3 and summary["duration_s"] == 2


def test_block_stat_and_derived_latencies():
    row = parsers.parse_block_stat("  120 3 9600 240 50 0 400 1000 0 900 1240 0 0 0 0\n",
                                   "guest_vdb")
    assert row["guest_vdb_read_ios"] == 120 and row["guest_vdb_write_ticks_ms"] == 1000
    assert "guest_vdb_in_flight" not in row
    got = monitors.derived({"guest_vdb_read_ios": 120, "guest_vdb_read_ticks_ms": 240,
                            "guest_vdb_write_ios": 50, "guest_vdb_write_ticks_ms": 1000,
                            "tmem_rtt_count": 4, "tmem_rtt_total_us": 100})
    assert got == {"swap_disk_read_avg_ms": 2.0, "swap_disk_write_avg_ms": 20.0,
                   "tmem_rtt_avg_us": 25.0}


def test_tmem_counters_are_prefixed_and_rtt_histogram_gives_percentiles():
    files = {"/sys/kernel/debug/frontswap/succ_stores": "10\n",
             "/sys/kernel/debug/tmem/succ_stores": "9\n",
             "/sys/kernel/debug/tmem/rtt_hist_us": "256 0\n512 60\n1024 35\n4096 5\n"}
    row = parsers.parse_guest_record(files)
    assert row["succ_stores"] == 10 and row["tmem_succ_stores"] == 9
    assert row["tmem_rtt_le_512"] == 60
    deltas, summary = monitors.summarize([{"t": 0, **{k: 0 for k in row}}, {"t": 1, **row}])
    assert summary["tmem_rtt_p50_us"] == 512 and summary["tmem_rtt_p90_us"] == 1024
    assert summary["tmem_rtt_p99_us"] == 4096


def test_console_failures(tmp_path):
    from harness.vm import console
    log = tmp_path / "console.log"
    log.write_text("[    9.59] Out of memory: Killed process 78 (pressure) total-vm:381564kB\n"
                   "[   10.00] Kernel panic - not syncing: VFS: Unable to mount root fs\n")
    assert console.oom_kills(log) == ["pressure"]
    assert console.kernel_failure(log).endswith("Unable to mount root fs")
    assert console.tail(log, 1).startswith("[   10.00]")
    assert console.kernel_failure(tmp_path / "absent.log") is None


def test_relay_stats_file_becomes_relay_counters_and_a_batch_histogram():
    text = ("batch_max 32\nframes_in 1000\nframes_out 40\nput_batches 31\n"
            "batch_hist 1 2\nbatch_hist 32 30\nport_rtt_total_us 500\nport_rtt_count 4\n"
            "port_rtt_hist 128 3\nport_rtt_hist 256 1\n")
    row = parsers.parse_guest_record({parsers.RELAY_STATS: text})
    assert row["relay_frames_in"] == 1000 and row["relay_frames_out"] == 40
    assert row["relay_batch_le_32"] == 30 and row["relay_batch_le_1"] == 2
    assert row["relay_batch_max"] == 32
    assert row["relay_port_rtt_le_128"] == 3 and row["relay_port_rtt_count"] == 4
    from harness.run.monitors import derived
    out = derived({k: v for k, v in row.items() if k != "relay_batch_max"})
    assert out["relay_port_rtt_avg_us"] == 125.0 and out["relay_port_rtt_p99_us"] == 256
    from harness.run.monitors import is_gauge
    assert is_gauge("relay_batch_max") and not is_gauge("relay_frames_out")


def test_zram_mm_stat_and_io_stat_become_named_columns_summarised_by_kind():
    # drivers/block/zram/zram_drv.c formats: "%8llu" × 9 (mm_stat) and, on 6.12,
    # "%8llu %8llu 0 %8llu" (io_stat)
    files = {"/sys/block/zram0/mm_stat": "104857600 31457280 33554432        0 35651584"
                                         "     1200        7       12       15\n",
             "/sys/block/zram0/io_stat": "       0        0 0       42\n"}
    row = parsers.parse_guest_record(files)
    assert row["zram_orig_data_size"] == 104857600 and row["zram_compr_data_size"] == 31457280
    assert row["zram_huge_pages_since"] == 15 and row["zram_notify_free"] == 42
    assert monitors.is_gauge("zram_mem_used_total") and monitors.is_gauge("zram_same_pages")
    assert not monitors.is_gauge("zram_pages_compacted")
    assert not monitors.is_gauge("zram_notify_free")
    # an older kernel's shorter line leaves the missing columns absent, not 0
    short = parsers.parse_columns("1 2 3\n", parsers.ZRAM_MM_STAT, "zram_")
    assert short == {"zram_orig_data_size": 1, "zram_compr_data_size": 2,
                     "zram_mem_used_total": 3}


def test_per_size_thp_stats_become_mthp_counters_and_absent_sizes_stay_absent():
    base = "/sys/kernel/mm/transparent_hugepage"
    files = {f"{base}/hugepages-64kB/stats/swpout": "12\n",
             f"{base}/hugepages-2048kB/stats/swpout_fallback": "3\n",
             f"{base}/hugepages-2048kB/stats/nr_anon": "5\n",
             f"{base}/enabled": "always [madvise] never\n"}
    row = parsers.parse_guest_record(files)
    assert {k: v for k, v in row.items() if k.startswith("mthp_")} == {
        "mthp_64kB_swpout": 12, "mthp_2048kB_swpout_fallback": 3, "mthp_2048kB_nr_anon": 5}
    assert monitors.is_gauge("mthp_2048kB_nr_anon")
    assert not monitors.is_gauge("mthp_64kB_swpout")
    assert not any(k.startswith("mthp_") for k in parsers.parse_guest_record({}))


def test_the_sampler_command_lets_the_guest_shell_expand_the_thp_size_glob():
    command = monitors.sampler_command()
    assert "/sys/kernel/mm/transparent_hugepage/hugepages-*/stats" in command
    assert "'" not in command  # unquoted: the guest's sh expands it
