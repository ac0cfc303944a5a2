"""The accelerator probe judged on real guests. KVM does not boot guests on every host, so
the same probe runs under TCG: a clean power-off counts, a reset or a panic (the domain
ends by itself in both) does not."""

import pytest

from harness.build import images, kernels
from harness.vm import accel
from harness.vm.vm import Hypervisor

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def boot_files():
    kernel = kernels.resolve("distro:debian-6.1")
    return kernel.vmlinuz, images.build_initramfs(kernel)


@pytest.mark.parametrize("init, works, needle", [
    ("poweroff -f", True, "powered off cleanly"),
    ("reboot -f", False, "reset instead of powering off"),
    ("true", False, "Attempted to kill init"),   # init exits: panic, and panic=-1 reboots
])
def test_probe_counts_only_a_clean_power_off(boot_files, init, works, needle):
    with Hypervisor() as hv:
        got, why = accel.probe_kvm(hv, *boot_files, timeout=120, accel="tcg", init=init)
    assert (got, needle in why) == (works, True), why
