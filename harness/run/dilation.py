"""TCG time dilation: how much slower the guest's CPU is than the host's, measured in each
run, and the swap disk's limits divided by it when the experiment asks (``iotune_scale``).

Under TCG the guest's CPU runs 10–50× slower than the host's while libvirt's disk limits
run in real time, so every technique that spends CPU to save disk I/O (zswap, tmem) is
penalised by construction. Dividing the disk's limits by the measured slowdown keeps real
hardware's CPU-to-disk cost ratio: the network-emulation idea of time dilation (Gupta et
al., "To infinity and beyond: time-warped network emulation", NSDI 2006) applied to disks.
Under KVM the factor is about 1 and ``iotune_scale: tcg`` changes nothing.

The factor is the geometric mean of two per-page ratios, guest ns ÷ host ns, of the same
static binary (guest_images/tools/cpubench.c): a 4 KiB memcpy (what each copy on the tmem
path costs) and an LZ4 compression of a 4 KiB page (what zswap and the backend spend).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness import proc
from harness.vm.domain import SWAP_DEV

GUEST_BENCH = "/usr/local/bin/tmemlab-cpubench"
BENCH_SECONDS = 0.5
KERNELS = ("memcpy", "lz4")


class DilationError(Exception):
    pass


def parse_bench(text: str) -> dict:
    """cpubench's JSON line → dict; DilationError naming what is missing."""
    try:
        data = json.loads(text.strip().splitlines()[-1])
    except (IndexError, ValueError) as err:
        raise DilationError(f"cpubench printed no JSON: {text.strip()[-200:]!r}") from err
    for kernel in KERNELS:
        ns = (data.get(kernel) or {}).get("ns_per_page")
        if not isinstance(ns, (int, float)) or ns <= 0:
            raise DilationError(f"cpubench: no {kernel}.ns_per_page in {data!r}")
    return data


def factors(guest: dict, host: dict) -> dict:
    """{'memcpy': g/h, 'lz4': g/h, 'factor': geometric mean}: > 1 means the guest is slower."""
    out = {k: guest[k]["ns_per_page"] / host[k]["ns_per_page"] for k in KERNELS}
    out["factor"] = math.exp(sum(math.log(out[k]) for k in KERNELS) / len(KERNELS))
    return {k: round(v, 3) for k, v in out.items()}


def host_bench(tools: Path, seconds: float = BENCH_SECONDS) -> dict:
    binary = tools / Path(GUEST_BENCH).name
    if not binary.exists():
        raise DilationError(f"{binary}: missing (the image predates cpubench; rebuild it)")
    return parse_bench(proc.output([binary, "--seconds", str(seconds)]))


def measure(guest, tools: Path, seconds: float = BENCH_SECONDS) -> dict:
    """Run the benchmark in the guest, then on the host (the same binary, one after the
    other, so both see the same host load). Returns the record's ``dilation`` section."""
    status, out, err = guest.run(f"{GUEST_BENCH} --seconds {seconds}", timeout=60 + 20 * seconds)
    if status != 0:
        raise DilationError(f"cpubench in the guest exited {status}: {err.strip()[-200:]}")
    g = parse_bench(out)
    h = host_bench(tools, seconds)
    return {"guest": g, "host": h, **factors(g, h)}


def scale_for(setting: str | float, accel: str, factor: float) -> float:
    """The divisor the disk limits get: 'none' → 1, 'tcg' → the measured factor under TCG
    and 1 otherwise, a number → that number."""
    if setting == "none":
        return 1.0
    if setting == "tcg":
        return factor if accel == "tcg" else 1.0
    return float(setting)


def scaled(iotune: dict, divisor: float) -> dict:
    """Each limit divided by ``divisor``, at least 1 (0 and absent mean unlimited: kept)."""
    return {k: max(1, int(v / divisor)) if v else v for k, v in iotune.items()}


def apply(dom, iotune: dict) -> dict:
    """Set the live swap disk's limits and read them back; DilationError when libvirt
    reports other values than asked (a setting that did not take effect fails the run)."""
    import libvirt
    try:
        dom.setBlockIoTune(SWAP_DEV, {k: int(v) for k, v in iotune.items()},
                           libvirt.VIR_DOMAIN_AFFECT_LIVE)
        now = dom.blockIoTune(SWAP_DEV, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as err:
        raise DilationError(f"setting the swap disk's iotune failed: {err}") from err
    wrong = {k: (v, now.get(k)) for k, v in iotune.items() if now.get(k) != v}
    if wrong:
        raise DilationError("swap disk iotune not in effect: " + ", ".join(
            f"{k} asked {a}, has {b}" for k, (a, b) in wrong.items()))
    return {k: now[k] for k in iotune}
