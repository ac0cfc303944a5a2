"""What each column of a debate run *is*, read from its records, not from its label.

An arm is the runs of one label in one results folder. Its technique (disk swap, zswap,
tmem), tmem frontend shape (sync, async, async+batch), swap disk class and dilation come
from what the run recorded as in effect: the tmem module parameters read back from the
guest, the swap disk limits read back from libvirt, the divisor applied. A label that
says "nvme" on a run whose disk was limited like an HDD is classified as an HDD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.compare import stats
from harness.report.compare.loader import ResultsDir, RunRecord, load_results_dir
from harness.report.compare.metrics import BY_NAME, lookup, value


@dataclass(frozen=True)
class DiskClass:
    name: str
    iops: int            # total_iops_sec (libvirt iotune), random 4 KiB requests
    bytes_per_s: int     # total_bytes_sec
    note: str


# Order: slowest first. Figures are typical vendor/benchmark numbers for random 4 KiB
# (7200 rpm HDD ~150 IOPS at ~6-7 ms; SATA-3 SSD ~90k IOPS, 550 MB/s; PCIe 4.0 NVMe
# ~500k IOPS at QD>1, ~3.5 GB/s). The experiment files in experiments/debate/ use these.
DISK_CLASSES: tuple[DiskClass, ...] = (
    DiskClass("hdd", 150, 150_000_000, "7200 rpm disk"),
    DiskClass("sata-ssd", 90_000, 550_000_000, "SATA-3 SSD"),
    DiskClass("nvme", 500_000, 3_500_000_000, "PCIe 4.0 NVMe SSD"),
)


def disk_class(iotune: dict | None) -> str:
    """The class whose IOPS limit the run asked for; 'unlimited' or 'custom-<N>iops'."""
    iops = (iotune or {}).get("total_iops_sec") or (iotune or {}).get("read_iops_sec")
    if not iops:
        return "unlimited"
    for c in DISK_CLASSES:
        if c.iops == iops:
            return c.name
    return f"custom-{iops}iops"


def technique(data: dict[str, Any]) -> str:
    """tmem when the guest ran tmemlab's frontend and a backend served it; zswap when
    zswap was enabled in the guest; zram with no swap disk; else disk swap."""
    guest = data.get("guest", {})
    if guest.get("tmem_parameters") and "backend" in data:
        return "tmem"
    if str(guest.get("zswap_parameters", {}).get("enabled", "")).upper() in ("Y", "1"):
        return "zswap"
    if guest.get("swap_mib") == 0:
        return "zram"
    return "disk"


def shape(data: dict[str, Any]) -> str:
    """tmem frontend shape from the parameters in effect: sync, async, async+batch,
    async+batch+prefetch; '' for other techniques."""
    if technique(data) != "tmem":
        return ""
    p = data["guest"]["tmem_parameters"]
    if p.get("mode", "sync") != "async":
        return "sync"
    out = "async"
    if int(p.get("batch", 1) or 1) > 1:
        out += "+batch"
    if int(p.get("prefetch", 0) or 0) > 0:
        out += "+prefetch"
    return out


@dataclass(frozen=True, eq=False)   # identity: an arm is one column, hashable
class Arm:
    label: str
    folder: str
    runs: tuple[RunRecord, ...]

    @property
    def passed(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.runs if r.passed)

    @property
    def first(self) -> dict[str, Any]:
        return (self.passed or self.runs)[0].data

    @property
    def technique(self) -> str:
        return technique(self.first)

    @property
    def shape(self) -> str:
        return shape(self.first)

    @property
    def disk(self) -> str:
        g = self.first.get("guest", {})
        return disk_class(g.get("swap_iotune_requested", g.get("swap_iotune")))

    @property
    def divisor(self) -> float:
        return float(lookup(self.first, ("guest", "swap_iotune_scale", "divisor")) or 1.0)

    @property
    def dilated(self) -> bool:
        return self.divisor != 1.0

    @property
    def iops_in_effect(self) -> float | None:
        """The swap disk's IOPS limit during the workload (after dilation, read back)."""
        g = self.first.get("guest", {})
        tune = g.get("swap_iotune") or {}
        return tune.get("total_iops_sec") or tune.get("read_iops_sec") or None

    def limit_binds(self) -> bool | None:
        """Whether the IOPS limit, not the (emulated) disk path, set the read latency: a
        measured read slower than twice the limit's spacing (1/IOPS) means the limit never
        came into play, as under TCG where virtio-blk itself costs ~0.5 ms a request."""
        iops, ms = self.iops_in_effect, self.mean("swap_disk_read_avg_ms")
        if not iops or ms is None:
            return None
        return ms * 1000 <= 2 * 1e6 / iops

    @property
    def accel(self) -> str:
        return str(self.first.get("guest", {}).get("accel", "?"))

    @property
    def thp(self) -> bool:
        """The workload asked for transparent huge pages (pressure --thp)."""
        return bool(self.first.get("workload", {}).get("params", {}).get("thp"))

    @property
    def name(self) -> str:
        """What the arm is, in the field's words: 'tmem async+batch', 'disk nvme (dilated)'."""
        workload = self.first.get("workload", {}).get("name", "pressure")
        what = f"tmem {self.shape}" if self.technique == "tmem" else self.technique
        if workload != "pressure":
            return f"{workload} ({what})"
        if self.technique == "disk":
            what += f" {self.disk}"
        if self.thp:
            what += " THP"
        # The divisor is measured per run; the report's conditions give the values.
        return what + (" (dilated)" if self.dilated else "")

    def values(self, metric: str) -> list[float]:
        """The metric over the passed runs (compare's metric table:
        harness/report/compare/metrics.py)."""
        m = BY_NAME[metric]
        out = [value(r.data, m) for r in self.passed]
        return [v for v in out if v is not None]

    def mean(self, metric: str) -> float | None:
        vals = self.values(metric)
        if not vals:
            return None
        return stats.hmean(vals) if BY_NAME[metric].rate else stats.amean(vals)


def arms_of(dirs: list[ResultsDir]) -> list[Arm]:
    out = []
    for d in dirs:
        for label in d.labels():
            out.append(Arm(label, d.name, tuple(r for r in d.runs if r.label == label)))
    return out


def load(paths: list[Path]) -> tuple[list[ResultsDir], list[Arm]]:
    dirs = [load_results_dir(p) for p in paths]
    return dirs, arms_of(dirs)
