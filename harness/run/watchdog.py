"""A guest that stops: watch the domain while it runs, and say why it stopped.

QEMU pauses a guest whose disk write fails with ENOSPC (``werror=enospc`` is its default
for virtio disks): the guest then sits, neither failing nor finishing, until a workload
timeout minutes later. PauseWatchdog polls the domain's state; on a pause it names the
disk, its file and the error (``virDomainGetDiskErrors``), and calls ``on_stop`` so the
runner can abort its wait for the workload at once.

The decision (``describe_pause``) and the disk map (``disk_files``) are pure functions of
libvirt's numbers and XML, tested without a domain.
"""

from __future__ import annotations

import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable

from harness.vm.vm import libvirt  # vm.py sets libvirt's log outputs before the import

log = logging.getLogger("tmemlab.watchdog")
POLL_S = 0.5

DISK_ERRORS = {
    libvirt.VIR_DOMAIN_DISK_ERROR_NO_SPACE: "no space left on device",
    libvirt.VIR_DOMAIN_DISK_ERROR_UNSPEC: "I/O error",
}
PAUSE_REASONS = {
    libvirt.VIR_DOMAIN_PAUSED_IOERROR: "an I/O error",
    libvirt.VIR_DOMAIN_PAUSED_WATCHDOG: "the guest's watchdog device",
    libvirt.VIR_DOMAIN_PAUSED_CRASHED: "a guest crash",
    libvirt.VIR_DOMAIN_PAUSED_SHUTTING_DOWN: "a shutdown",
    libvirt.VIR_DOMAIN_PAUSED_UNKNOWN: "an unknown reason",
}
# Pauses that are not a stop: libvirt's own start-up, and a pause someone asked for.
BENIGN_PAUSES = (libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, libvirt.VIR_DOMAIN_PAUSED_USER)


def disk_files(domain_xml: str) -> dict[str, str]:
    """{target dev: source file} of the domain's file-backed disks."""
    files = {}
    for disk in ET.fromstring(domain_xml).iter("disk"):
        target, source = disk.find("target"), disk.find("source")
        if target is not None and source is not None and source.get("file"):
            files[target.get("dev")] = source.get("file")
    return files


def free_bytes(path: str) -> int | None:
    try:
        st = os.statvfs(os.path.dirname(path) or ".")
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def describe_pause(reason: int, disk_errors: dict[str, int], files: dict[str, str],
                   free: Callable[[str], int | None] = free_bytes) -> str:
    """One line: why the guest paused, and for a disk error which disk, file and error."""
    why = PAUSE_REASONS.get(reason, f"reason {reason}")
    failed = [(dev, code) for dev, code in sorted(disk_errors.items())
              if code != libvirt.VIR_DOMAIN_DISK_ERROR_NONE]
    if not failed:
        return f"guest paused by QEMU on {why}"
    parts = []
    for dev, code in failed:
        path = files.get(dev, "?")
        text = f"{dev} ({path}): {DISK_ERRORS.get(code, f'disk error {code}')}"
        left = free(path) if path != "?" else None
        if code == libvirt.VIR_DOMAIN_DISK_ERROR_NO_SPACE and left is not None:
            text += f", {left} bytes free on its host filesystem"
        parts.append(text)
    return f"guest paused by QEMU on {why}: " + "; ".join(parts)


class PauseWatchdog(threading.Thread):
    """Polls ``dom`` until stopped; on a pause sets ``reason`` and calls ``on_stop``."""

    def __init__(self, dom, on_stop: Callable[[str], None], interval: float = POLL_S):
        super().__init__(name="pause-watchdog", daemon=True)
        self.dom, self.on_stop, self.interval = dom, on_stop, interval
        self.reason: str | None = None
        self._stopping = threading.Event()
        self._files: dict[str, str] | None = None

    def run(self) -> None:
        try:
            # The disk map is read at the start: the XML of a paused domain is the same.
            self._files = disk_files(self.dom.XMLDesc(0))
        except libvirt.libvirtError:
            return
        while not self._stopping.wait(self.interval):
            try:
                state, why = self.dom.state()
                if state != libvirt.VIR_DOMAIN_PAUSED or why in BENIGN_PAUSES:
                    continue
                errors = self.dom.diskErrors() if why == libvirt.VIR_DOMAIN_PAUSED_IOERROR \
                    else {}
            except libvirt.libvirtError:
                return  # the domain is gone: not a pause, other paths report that
            self.reason = describe_pause(why, errors, self._files)
            log.warning("%s", self.reason)
            try:
                self.on_stop(self.reason)
            except Exception:  # noqa: BLE001 - the reason is recorded either way
                log.exception("on_stop failed")
            return

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)
