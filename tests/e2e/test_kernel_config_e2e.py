"""A kernel built from kernel_configs/ (from a clean cache in CI: Debian's linux-source,
patch series, tinyconfig + kvm_guest + fragments), booted, proving its own config.
config:tmem, the one source-built kernel the other e2e tests need too: a cold `make test`
builds one kernel, not two (config:baseline is built the same way from the same tree)."""

import time

import pytest

from harness.build import kbuild, kconfig
from tests.e2e.conftest import tmemlab

pytestmark = [pytest.mark.e2e, pytest.mark.tmem_kernel]


@pytest.fixture(scope="module")
def source_build():
    start = time.monotonic()
    proc = tmemlab("kernel", "build", "tmem", timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, time.monotonic() - start


def test_second_build_is_a_cache_hit(source_build):
    start = time.monotonic()
    proc = tmemlab("kernel", "build", "tmem")
    assert proc.returncode == 0, proc.stderr
    assert " cached" in proc.stderr
    assert time.monotonic() - start < 30  # no compiler ran: apt-cache + hashing only


def test_guest_runs_the_config_it_was_built_from(source_build):
    proc = tmemlab("boot", "config:tmem", "--memory", "192", "--",
                   "zcat /proc/config.gz; echo; cat /proc/swaps")
    assert proc.returncode == 0, proc.stderr[-3000:]
    misses = kconfig.verify(kbuild.fragments_for("tmem"), proc.stdout)
    assert misses == [], [m.describe() for m in misses]
    assert "/dev/vdb" in proc.stdout  # swap disk on, with no modules to load
