"""Pick the accelerator: KVM when it really runs guests, TCG otherwise — loudly.

``/dev/kvm`` opening is not enough: on some hosts KVM_CREATE_VM works yet a guest never
gets past the BIOS. So ``auto`` boots the run's kernel under KVM with init replaced by
``busybox poweroff -f`` and waits a few seconds for the domain to end by itself.

Ending is not enough either: the domain also ends on a reset (on_reboot is destroy) and on
a panic (panic=-1 reboots). KVM counts as working only when the console shows the clean
power-off the kernel prints (``reboot: Power down``) and no panic (``probe_verdict``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from harness import ui
from harness.errors import UsageError, VMError
from harness.paths import cache_dir
from harness.vm.domain import DomainSpec, domain_xml
from harness.vm.vm import Hypervisor

ACCELS = ("auto", "kvm", "tcg")
PROBE_TIMEOUT_S = 20.0
PROBE_RULE = "v2 clean power-off"   # part of the memo key: older verdicts are re-probed
POWER_DOWN = "reboot: Power down"   # kernel/reboot.c kernel_power_off(), pr_emerg
RESTART = "reboot: Restarting system"
FAILURE = re.compile(r"Kernel panic - not syncing.*|Oops: .*|BUG: .*|"
                     r"general protection fault.*|invalid opcode: .*")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_verdict(console: str, ended: bool, seconds: float) -> tuple[bool, str]:
    """(works, why) from the probe guest's console text and whether its domain ended."""
    failure = FAILURE.search(console)
    if failure:
        return False, f"KVM guest failed: {failure.group(0).strip()[:120]}"
    if not ended:
        return False, f"KVM guest did not power off within {seconds:.0f} s " \
                      "(hangs in firmware?)"
    if POWER_DOWN in console:
        return True, f"KVM guest booted and powered off cleanly in {seconds:.1f} s"
    if RESTART in console:
        return False, "KVM guest reset instead of powering off"
    return False, f"KVM guest ended after {seconds:.1f} s without a clean power-off " \
                  f"(no '{POWER_DOWN}' on its console)"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def probe_kvm(hv: Hypervisor, kernel: Path, initrd: Path, timeout: float = PROBE_TIMEOUT_S,
              accel: str = "kvm", init: str = "poweroff -f") -> tuple[bool, str]:
    """(works, why). Boots a disk-less guest that powers off as soon as init runs.
    ``accel`` and ``init`` (a busybox command) let a test judge other endings under TCG."""
    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is missing or not accessible"
    work = cache_dir("probe")
    name = f"tmemlab-kvm-probe-{os.getpid()}"
    spec = DomainSpec(name=name, accel=accel, memory_mib=256, vcpus=1, kernel=kernel,
                      initrd=initrd, cmdline="console=ttyS0 panic=-1 rdinit=/bin/busybox "
                      f"-- {init}", root_disk=None, swap_disk=None,
                      console_log=work / "kvm-probe.log", tmem_socket=None, ssh_port=None)
    xml = domain_xml(spec)
    spec.console_log.unlink(missing_ok=True)  # judge this boot's console only
    start = time.monotonic()
    try:
        dom = hv.start(xml, name)
    except VMError as err:
        return False, f"KVM domain failed to start: {err}"
    ended = False
    try:
        while not ended and time.monotonic() - start < timeout:
            try:
                ended = not dom.isActive()
            except Exception:
                ended = True  # the domain is gone
            if not ended:
                time.sleep(0.2)
        seconds = time.monotonic() - start
    finally:
        hv.destroy(name)
    return probe_verdict(_read(spec.console_log), ended, seconds if ended else timeout)


def choose(requested: str, hv: Hypervisor, kernel: Path, initrd: Path) -> str:
    """The accelerator to use; ``auto`` probes KVM once per host boot and QEMU version."""
    if requested not in ACCELS:
        raise UsageError(f"accel must be one of {', '.join(ACCELS)}, not {requested!r}")
    if requested != "auto":
        return requested
    memo = cache_dir("probe") / "kvm.json"
    key = f"{_boot_id()} {hv.versions()['qemu']} {PROBE_RULE}"
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
