"""The pause watchdog's decisions on libvirt's numbers, and its thread on a stand-in
domain (pure logic; the real pause on ENOSPC is tests/e2e/test_enospc_pause_e2e.py)."""

import threading
from pathlib import Path

from harness.run import watchdog
from harness.vm.domain import DomainSpec, domain_xml
from harness.vm.vm import libvirt

SPEC = DomainSpec(name="t", accel="tcg", memory_mib=192, vcpus=1, kernel=Path("/k"),
                  initrd=Path("/i"), cmdline="", root_disk=Path("/s/r1/root.qcow2"),
                  swap_disk=Path("/s/r1/swap.raw"), console_log=Path("/s/r1/console.log"),
                  tmem_socket=None, ssh_port=None)
FILES = watchdog.disk_files(domain_xml(SPEC))
NO_SPACE = libvirt.VIR_DOMAIN_DISK_ERROR_NO_SPACE
IOERROR = libvirt.VIR_DOMAIN_PAUSED_IOERROR


def test_disk_targets_map_to_their_files():
    assert FILES == {"vda": "/s/r1/root.qcow2", "vdb": "/s/r1/swap.raw"}


def test_enospc_pause_names_the_error_the_disk_and_its_file():
    line = watchdog.describe_pause(IOERROR, {"vda": 0, "vdb": NO_SPACE}, FILES,
                                   free=lambda path: 4096)
    assert line == ("guest paused by QEMU on an I/O error: vdb (/s/r1/swap.raw): no space "
                    "left on device, 4096 bytes free on its host filesystem")


def test_other_disk_error_and_pause_without_disk_error():
    line = watchdog.describe_pause(IOERROR, {"vda": libvirt.VIR_DOMAIN_DISK_ERROR_UNSPEC},
                                   FILES, free=lambda path: None)
    assert line.endswith("vda (/s/r1/root.qcow2): I/O error")
    assert watchdog.describe_pause(libvirt.VIR_DOMAIN_PAUSED_WATCHDOG, {}, FILES) == \
        "guest paused by QEMU on the guest's watchdog device"


class Domain:
    """Stand-in for virDomain: running, then paused on ENOSPC after ``pause_after`` polls."""

    def __init__(self, pause_after: int, reason=IOERROR):
        self.polls, self.pause_after, self.reason = 0, pause_after, reason

    def XMLDesc(self, _flags):
        return domain_xml(SPEC)

    def state(self):
        self.polls += 1
        if self.polls > self.pause_after:
            return [libvirt.VIR_DOMAIN_PAUSED, self.reason]
        return [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED]

    def diskErrors(self):
        return {"vdb": NO_SPACE}


def test_thread_calls_on_stop_once_with_the_reason():
    stopped = threading.Event()
    seen = []
    dog = watchdog.PauseWatchdog(Domain(pause_after=3), lambda r: (seen.append(r),
                                                                   stopped.set()), 0.01)
    dog.start()
    assert stopped.wait(5)
    dog.stop()
    assert len(seen) == 1 and seen[0] == dog.reason and "swap.raw" in dog.reason


def test_a_pause_someone_asked_for_is_not_a_stop():
    dom = Domain(pause_after=0, reason=libvirt.VIR_DOMAIN_PAUSED_USER)
    dog = watchdog.PauseWatchdog(dom, lambda r: None, 0.01)
    dog.start()
    while dom.polls < 5:
        threading.Event().wait(0.01)
    dog.stop()
    assert dog.reason is None and not dog.is_alive()
