import pytest

from harness.build import kernels
from harness.errors import KernelFetchError

APT_SHOW = """Package: linux-image-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)
Description: Linux for 64-bit PCs (meta-package)
"""

MODULES_DEP = """kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/crypto/crc32c_generic.ko:
"""


def test_parse_depends_finds_exact_package_and_version():
    assert kernels.parse_depends(APT_SHOW) == ("linux-image-6.1.0-56-amd64", "6.1.192-2")


def test_parse_depends_rejects_unexpected_text():
    with pytest.raises(KernelFetchError):
        kernels.parse_depends("Package: x\nDepends: libc6\n")


def test_module_closure_orders_dependencies_first_and_skips_builtins():
    order = kernels._module_closure(MODULES_DEP, ["virtio_blk", "ext4", "not_a_module"])
    assert order.index("kernel/drivers/virtio/virtio_ring.ko") < \
        order.index("kernel/drivers/virtio/virtio.ko") < \
        order.index("kernel/drivers/block/virtio_blk.ko")
    assert order[-1] == "kernel/fs/ext4/ext4.ko"
    assert len(order) == len(set(order)) == 7


def test_unknown_kernel_kind_is_a_clear_error():
    with pytest.raises(KernelFetchError, match="expected one of distro:NAME"):
        kernels.resolve("floppy:x")
    with pytest.raises(KernelFetchError, match="unknown distro kernel 'nope'"):
        kernels.resolve("distro:nope")
