"""pressure: JSON result, access patterns, verification and its test hook."""

import json
import os
import signal
import struct
import subprocess
import time

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")
SMALL = "16M"
SMALL_PAGES = 16 * 1024 * 1024 // PAGE

TOP_KEYS = {
    "workload",
    "version",
    "size_bytes",
    "pages",
    "page_size",
    "threads",
    "pattern",
    "zipf_theta",
    "write_ratio",
    "mix",
    "page_kinds",
    "seed",
    "thp",
    "fill_elapsed_s",
    "elapsed_s",
    "bytes_per_sec",
    "pages_per_sec",
    "passes",
    "latency_us",
    "verified_pages",
    "corrupted_pages",
    "writes",
    "final_verify_elapsed_s",
    "interrupted",
}
KINDS = {"zero", "dup", "text", "random"}


def inject_env(count: int, mode: str | None = None) -> dict:
    env = dict(os.environ, TMEMLAB_PRESSURE_INJECT_CORRUPTION=str(count))
    if mode:
        env["TMEMLAB_PRESSURE_INJECT_MODE"] = mode
    return env


def elf_program_header_types(path) -> set[int]:
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return {struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)}


@pytest.mark.parametrize("name", ["pressure", "tmemlab-sample"])
def test_binaries_are_static(tools, name):
    PT_INTERP = 3
    assert PT_INTERP not in elf_program_header_types(tools / name)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("pattern", ["seq", "random", "zipf"])
def test_clean_run_reports_every_field(pressure, pattern, threads):
    run = pressure(
        "--size", SMALL, "--passes", "2", "--pattern", pattern, "--threads", str(threads)
    )
    assert run.rc == 0, run.stderr
    r = run.result
    assert set(r) == TOP_KEYS
    assert (r["workload"], r["version"], r["pattern"], r["threads"]) == (
        "pressure",
        1,
        pattern,
        threads,
    )
    assert r["pages"] == SMALL_PAGES and r["page_size"] == PAGE
    assert r["size_bytes"] == SMALL_PAGES * PAGE
    assert r["mix"] == {"zero": 10, "dup": 10, "text": 50, "random": 30}
    assert sum(r["page_kinds"].values()) == SMALL_PAGES
    assert [p["pass"] for p in r["passes"]] == [1, 2]
    assert all(p["pages"] == SMALL_PAGES and p["pages_per_sec"] > 0 for p in r["passes"])
    assert r["verified_pages"] == 2 * SMALL_PAGES
    assert r["corrupted_pages"] == 0
    assert r["elapsed_s"] == pytest.approx(sum(p["elapsed_s"] for p in r["passes"]), abs=1e-5)
    assert r["pages_per_sec"] * PAGE == pytest.approx(r["bytes_per_sec"])
    lat = r["latency_us"]
    assert set(lat) == {"p50", "p90", "p99", "p999", "max", "samples"}
    assert lat["samples"] > 0
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert r["final_verify_elapsed_s"] is None and r["interrupted"] is False


def test_write_ratio_bounds(pressure):
    read_only = pressure("--size", SMALL, "--write-ratio", "0").result
    all_write = pressure("--size", SMALL, "--write-ratio", "1", "--passes", "3").result
    default = pressure("--size", SMALL, "--passes", "2").result
    assert read_only["writes"] == 0
    # Every touch rewrites, and every rewrite is verified on the next pass.
    assert all_write["writes"] == all_write["verified_pages"] == 3 * SMALL_PAGES
    assert all_write["corrupted_pages"] == 0
    assert default["writes"] == pytest.approx(0.2 * 2 * SMALL_PAGES, rel=0.1)


def test_mix_and_seed_decide_page_kinds(pressure):
    only_zero = pressure("--size", "4M", "--mix", "zero=100").result
    assert only_zero["page_kinds"] == {"zero": 1024, "dup": 0, "text": 0, "random": 0}

    a = pressure("--size", SMALL, "--mix", "zero=25,dup=25,text=25,random=25").result
    b = pressure("--size", SMALL, "--mix", "zero=25,dup=25,text=25,random=25").result
    c = pressure("--size", SMALL, "--mix", "zero=25,dup=25,text=25,random=25", "--seed", "2").result
    assert a["page_kinds"] == b["page_kinds"] != c["page_kinds"]
    for n in a["page_kinds"].values():
        assert n == pytest.approx(SMALL_PAGES / 4, rel=0.1)


def test_size_pct_of_ram(pressure):
    with open("/proc/meminfo") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    r = pressure("--size-pct-of-ram", "0.01").result
    assert r["pages"] == int(kib * 1024 * 0.0001) // PAGE


def test_duration_runs_passes_until_the_deadline(pressure):
    r = pressure("--size", "4M", "--duration", "0.3").result
    assert r["corrupted_pages"] == 0
    assert len(r["passes"]) >= 1
    assert 0.25 <= r["elapsed_s"] < 3


def test_sigterm_still_prints_the_result(tools):
    proc = subprocess.Popen(
        [str(tools / "pressure"), "--size", "4M", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    r = json.loads(out)
    assert r["interrupted"] is True and r["corrupted_pages"] == 0


@pytest.mark.parametrize("mode", [None, "flip", "copy", "stale", "zero"])
def test_injected_corruption_is_caught_exactly(pressure, mode):
    run = pressure("--size", SMALL, "--passes", "2", "--threads", "2", env=inject_env(7, mode))
    assert run.rc == 3
    r = run.result
    # Found on pass 1 and repaired, so each counts once.
    assert r["corrupted_pages"] == 7
    assert run.stderr.count("corrupted page ") == 7


def test_final_verify_catches_pages_the_passes_missed(pressure):
    # One random pass misses about a third of the pages; the final sweep reads them all.
    run = pressure(
        "--size", SMALL, "--pattern", "random", "--final-verify", env=inject_env(50, "copy")
    )
    assert run.rc == 3
    r = run.result
    assert r["corrupted_pages"] == 50
    assert r["verified_pages"] == 2 * SMALL_PAGES
    assert r["final_verify_elapsed_s"] > 0


def test_corruption_reports_are_capped(pressure):
    run = pressure("--size", SMALL, env=inject_env(30))
    assert run.rc == 3 and run.result["corrupted_pages"] == 30
    assert run.stderr.count("corrupted page ") == 10
    assert "more corrupted pages" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--size", "0"],
        ["--size", "12Q"],
        ["--size", "abc"],
        ["--size"],
        ["--size", SMALL, "--mix", "zero=50"],
        ["--size", SMALL, "--mix", "zero=50,zero=50"],
        ["--size", SMALL, "--mix", "foo=100"],
        ["--size", SMALL, "--pattern", "zigzag"],
        ["--size", SMALL, "--threads", "0"],
        ["--size", SMALL, "--write-ratio", "1.5"],
        ["--size", SMALL, "--passes", "0"],
        ["--size", SMALL, "--zipf-theta", "-1"],
        ["--size", SMALL, "--duration", "soon"],
        ["--size", SMALL, "--bogus"],
        ["--size", SMALL, "extra"],
        ["--size", "4K", "--threads", "2"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(pressure, args):
    run = pressure(*args)
    assert run.rc == 2
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("pressure: ")


def test_bad_injection_request_exits_2(pressure):
    run = pressure("--size", "4M", "--mix", "zero=100", env=inject_env(1, "stale"))
    assert run.rc == 2


def test_help(pressure):
    run = pressure("--help")
    assert run.rc == 0 and "--size-pct-of-ram" in run.stdout
