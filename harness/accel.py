"""Pick the accelerator: KVM when it really runs guests, TCG otherwise — loudly.

``/dev/kvm`` opening is not enough: on some hosts KVM_CREATE_VM works yet a guest never
gets past the BIOS. So ``auto`` boots the run's kernel under KVM with init replaced by
``busybox poweroff -f`` and waits a few seconds for the domain to end by itself.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from harness import ui
from harness.domain import DomainSpec, domain_xml
from harness.errors import UsageError, VMError
from harness.paths import cache_dir
from harness.vm import Hypervisor

ACCELS = ("auto", "kvm", "tcg")
PROBE_TIMEOUT_S = 20.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(hv: Hypervisor, kernel: Path, initrd: Path, timeout: float = PROBE_TIMEOUT_S
              ) -> tuple[bool, str]:
    """(works, why). Boots a disk-less guest that powers off as soon as init runs."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    work = cache_dir("probe")
    name = f"tmemlab-kvm-probe-{os.getpid()}"
    spec = DomainSpec(name=name, accel="kvm", memory_mib=256, vcpus=1, kernel=kernel,
                      initrd=initrd, cmdline="console=ttyS0 panic=-1 rdinit=/bin/busybox "
                      "-- poweroff -f", root_disk=None, swap_disk=None,
                      console_log=work / "kvm-probe.log", tmem_socket=None, ssh_port=None)
    xml = domain_xml(spec)
    start = time.monotonic()
    try:
        dom = hv.start(xml, name)
    except VMError as err:
        return False, f"KVM domain failed to start: {err}"
    try:
        while time.monotonic() - start < timeout:
            try:
                if not dom.isActive():
                    return True, f"KVM guest booted and powered off in " \
                                 f"{time.monotonic() - start:.1f} s"
            except Exception:
                return True, "KVM guest booted and powered off"
            time.sleep(0.2)
        return False, f"KVM guest did not reach init within {timeout:.0f} s " \
                      "(hangs in firmware?)"
    finally:
        hv.destroy(name)


def choose(requested: str, hv: Hypervisor, kernel: Path, initrd: Path) -> str:
    """The accelerator to use; ``auto`` probes KVM once per host boot and QEMU version."""
    if requested not in ACCELS:
        raise UsageError(f"accel must be one of {', '.join(ACCELS)}, not {requested!r}")
    if requested != "auto":
        return requested
    memo = cache_dir("probe") / "kvm.json"
    key = f"{_boot_id()} {hv.versions()['qemu']}"
    try:
        cached = json.loads(memo.read_text())
        if cached.get("key") == key:
            works, why = cached["works"], cached["why"] + " (cached probe)"
        else:
            raise ValueError
    except (OSError, ValueError, KeyError):
        with ui.step("probe KVM with a time-limited boot"):
            works, why = probe_kvm(hv, kernel, initrd)
        memo.write_text(json.dumps({"key": key, "works": works, "why": why}))
    if works:
        ui.info(f"accel: kvm ({why})")
        return "kvm"
    ui.warn(f"KVM unusable: {why}. Falling back to TCG (software emulation, ~10-50x slower); "
            "results are recorded with accel=tcg.")
    return "tcg"
