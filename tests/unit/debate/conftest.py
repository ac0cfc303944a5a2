"""Fixed results folders for the debate's verdict logic: run records with the fields
harness/report/debate reads, written the way harness/results/results.py writes them (runs/<id>.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HDD = {"total_iops_sec": 150, "total_bytes_sec": 150000000}
SSD = {"total_iops_sec": 90000, "total_bytes_sec": 550000000}
NVME = {"total_iops_sec": 500000, "total_bytes_sec": 3500000000}
TMEM = {"sync": {"mode": "sync", "batch": "1", "prefetch": "0"},
        "async": {"mode": "async", "batch": "1", "prefetch": "0"},
        "async+batch": {"mode": "async", "batch": "32", "prefetch": "0"}}


def record(label: str, i: int, pps: float, *, tmem: str | None = None, iotune=SSD,
           divisor: float = 1.0, disk_read_ms: float | None = None, rtt_us: float | None = None,
           host_cpu_s: float = 10.0, wall_s: float = 20.0, frames: float | None = None,
           accel: str = "tcg", status: str = "passed", thp: bool = False,
           deltas: dict | None = None) -> dict:
    guest = {"accel": accel, "memory_mib": 160, "vcpus": 1, "swap_mib": 512,
             "swap_iotune_requested": iotune,
             "swap_iotune_scale": {"setting": "tcg" if divisor != 1 else "none",
                                   "divisor": divisor},
             "tmem_parameters": TMEM[tmem] if tmem else {},
             "zswap_parameters": {"enabled": "N"}}
    data = {"run_id": f"{label}+pressure-i{i}", "label": f"{label}+pressure", "iteration": i,
            "status": status, "guest": guest, "workload_wall_s": wall_s,
            "workload": {"name": "pressure", "params": {"size_pct_of_ram": 150, "thp": thp}},
            "result": {"pages_per_sec": pps, "corrupted_pages": 0},
            "deltas": {"qemu_cpu_s": host_cpu_s, "cpu_system_s": 1.0},
            "summary": {}, "dilation": {"factor": 30.0, "memcpy": 20.0, "lz4": 45.0,
                                         "guest": {"memcpy": {"ns_per_page": 2000.0}},
                                         "host": {"memcpy": {"ns_per_page": 100.0}}}}
    if tmem:
        data["backend"] = {"options": {}}
        data["deltas"].update(backend_puts=1000, backend_gets=1000)
    data["deltas"].update(deltas or {})
    if disk_read_ms is not None:
        data["summary"]["swap_disk_read_avg_ms"] = disk_read_ms
    if rtt_us is not None:
        data["summary"]["tmem_rtt_avg_us"] = rtt_us
    if frames is not None:
        data["summary"]["tmem_frames_per_page"] = frames
    return data


@pytest.fixture
def folder(tmp_path):
    """folder([records]) -> a results folder Path holding them."""
    count = [0]

    def make(records: list[dict], name: str = "debate-t") -> Path:
        count[0] += 1
        path = tmp_path / f"{name}-{count[0]}"
        (path / "runs").mkdir(parents=True)
        for r in records:
            (path / "runs" / f"{r['run_id']}.json").write_text(json.dumps(r))
        (path / "versions.json").write_text(json.dumps({"host": {"hostname": "testhost"}}))
        return path
    return make


def arm(label: str, values: list[float], **kw) -> list[dict]:
    """One record per value (an iteration each), same arm."""
    return [record(label, i + 1, v, **kw) for i, v in enumerate(values)]
