"""Build constructed results folders (docs/RESULTS.md format) for the compare tests.

Plain module (not a conftest) so the functional HTML test can import it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSIONS = {
    "host": {"hostname": "lab1", "cpu_model": "Test CPU @ 2.0GHz", "nproc": 2,
             "mem_total_kib": 24000000},
    "accel": "tcg", "qemu": "7.2.0", "libvirt": "9.0.0", "tmemlab_commit": "abc123",
    "image": {"hash": "img0hash", "recipe": "bookworm-minbase"},
    "kernels": {"distro:debian-6.1": {"package": "linux-image-6.1.0-28-amd64",
                                      "version": "6.1.119-1", "config_hash": "sha256:k1"}},
}


def make_run(label: str, iteration: int, pages_per_sec: float, *, elapsed_s: float = 10.0,
             pswpout: float = 5000.0, status: str = "passed", memory_mib: int = 256,
             extra_deltas: dict[str, float] | None = None) -> dict[str, Any]:
    failure = None
    if status != "passed":
        failure = {"reason": "guest did not boot", "console_tail": "Kernel panic - oops\nend"}
    return {
        "run_id": f"{label}-i{iteration}", "label": label, "iteration": iteration,
        "status": status, "failure": failure,
        "kernel": {"spec": "distro:debian-6.1", "cmdline_extra": "", "package": "p",
                   "version": "v"},
        "workload": {"name": "pressure", "params": {}},
        "guest": {"memory_mib": memory_mib, "vcpus": 1, "swap_mib": 1024, "accel": "tcg"},
        "boot_seconds": 7.0,
        "result": {
            "bytes_per_sec": pages_per_sec * 4096, "pages_per_sec": pages_per_sec,
            "elapsed_s": elapsed_s,
            "latency_us": {"p50": 1.0, "p90": 3.0, "p99": 100.0, "p999": 900.0, "max": 5000.0},
            "corrupted_pages": 0, "verified_pages": 1000,
        },
        "deltas": {"pswpin": 1000.0, "pswpout": pswpout, "pgmajfault": 900.0,
                   "cpu_user_s": 1.0, "cpu_system_s": 3.0, **(extra_deltas or {})},
        "summary": {"psi_some_avg10_max": 40.0, "qemu_rss_max_bytes": 3.0e8},
    }


def series_csv(n: int = 20, rate: float = 100.0) -> str:
    lines = ["t,pswpin,pswpout,psi_some_avg10,backend_stored_pages"]
    for t in range(n):
        lines.append(f"{t},{t * rate / 2:.0f},{t * rate:.0f},{min(t * 3, 60)},{t * 50}")
    return "\n".join(lines) + "\n"


def write_results(root: Path, name: str, runs: list[dict[str, Any]],
                  versions: dict[str, Any] | None = None, series: bool = True) -> Path:
    d = root / name
    (d / "runs").mkdir(parents=True)
    (d / "series").mkdir()
    (d / "console").mkdir()
    (d / "versions.json").write_text(json.dumps(versions if versions is not None else VERSIONS))
    (d / "experiment.yaml").write_text(f"name: {name}\niterations: 3\n")
    for i, run in enumerate(runs):
        (d / "runs" / f"{run['run_id']}.json").write_text(json.dumps(run))
        if series:
            (d / "series" / f"{run['run_id']}.csv").write_text(series_csv(rate=100.0 + 10 * i))
    return d


def two_config_runs(base: list[float], new: list[float], new_label: str = "tmem+pressure",
                    base_label: str = "zswap+pressure") -> list[dict[str, Any]]:
    """Runs for two labels with the given pages_per_sec per iteration."""
    runs = [make_run(base_label, i + 1, v) for i, v in enumerate(base)]
    runs += [make_run(new_label, i + 1, v, elapsed_s=8.0, pswpout=2000.0)
             for i, v in enumerate(new)]
    return runs


# An A/A run: every metric drawn from one distribution per metric (mean, relative sd), so two
# labels differ by chance alone. 29 metrics: 10 primary (pressure), the rest counters.
AA_RESULT = {"fill_elapsed_s": (14.0, 0.08), "elapsed_s": (20.0, 0.06),
             "final_verify_elapsed_s": (9.0, 0.08), "pages_per_sec": (3300.0, 0.06)}
AA_LATENCY = {"p50": (40.0, 0.3), "p90": (900.0, 0.2), "p99": (5000.0, 0.2),
              "p999": (20000.0, 0.25), "max": (90000.0, 0.4)}
AA_DELTAS = {"pswpin": (60000.0, 0.02), "pswpout": (90000.0, 0.02),
             "pgmajfault": (30000.0, 0.01), "pgfault": (200000.0, 0.01),
             "swap_disk_read_bytes": (2.4e8, 0.02), "swap_disk_write_bytes": (3.6e8, 0.02),
             "cpu_user_s": (3.0, 0.1), "cpu_system_s": (25.0, 0.08), "cpu_iowait_s": (9.0, 0.2),
             "cpu_steal_s": (0.5, 0.5), "qemu_cpu_s": (60.0, 0.05), "pgscan_kswapd": (1e5, 0.05),
             "pgsteal_kswapd": (9e4, 0.05), "oom_kill": (0.0, 0.0)}
AA_SUMMARY = {"psi_some_avg10_max": (60.0, 0.1), "psi_full_avg10_max": (50.0, 0.1),
              "qemu_rss_bytes_max": (3.1e8, 0.01), "swap_disk_read_avg_ms": (0.4, 0.2)}


def aa_run(label: str, iteration: int, rng) -> dict[str, Any]:
    """One passed pressure run whose numbers come from the A/A distributions (``rng``: a
    random.Random)."""
    def draw(spec):
        mean, rel = spec
        return max(mean * (1 + rng.gauss(0.0, rel)), 0.0)

    run = make_run(label, iteration, draw(AA_RESULT["pages_per_sec"]),
                   elapsed_s=draw(AA_RESULT["elapsed_s"]))
    run["result"]["bytes_per_sec"] = run["result"]["pages_per_sec"] * 4096
    run["result"]["fill_elapsed_s"] = draw(AA_RESULT["fill_elapsed_s"])
    run["result"]["final_verify_elapsed_s"] = draw(AA_RESULT["final_verify_elapsed_s"])
    run["result"]["latency_us"] = {k: draw(v) for k, v in AA_LATENCY.items()}
    run["deltas"] = {k: round(draw(v)) for k, v in AA_DELTAS.items()}
    run["summary"] = {k: draw(v) for k, v in AA_SUMMARY.items()}
    run["boot_seconds"] = draw((9.0, 0.05))
    run["workload_wall_s"] = draw((45.0, 0.05))
    return run


def aa_runs(seed: int, iterations: int = 3,
            labels: tuple[str, str] = ("a+pressure", "b+pressure")) -> list[dict[str, Any]]:
    """Interleaved A/A runs: iteration outermost, as the runner orders them."""
    import random

    rng = random.Random(seed)
    return [aa_run(label, i, rng) for i in range(1, iterations + 1) for label in labels]
