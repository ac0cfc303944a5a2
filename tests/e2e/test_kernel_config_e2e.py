"""A kernel built from kernel_configs/ (from a clean cache in CI: Debian's linux-source,
patch series, tinyconfig + kvm_guest + fragments), booted, proving its own config."""

import time

import pytest

from harness import kbuild, kconfig
from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def baseline_build():
    start = time.monotonic()
    proc = tmemlab("kernel", "build", "baseline", timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, time.monotonic() - start


def test_second_build_is_a_cache_hit(baseline_build):
    start = time.monotonic()
    proc = tmemlab("kernel", "build", "baseline")
    assert proc.returncode == 0, proc.stderr
    assert " cached" in proc.stderr
    assert time.monotonic() - start < 30  # no compiler ran: apt-cache + hashing only


def test_guest_runs_the_config_it_was_built_from(baseline_build):
    proc = tmemlab("boot", "config:baseline", "--memory", "192", "--",
                   "zcat /proc/config.gz; echo; cat /proc/swaps")
    assert proc.returncode == 0, proc.stderr[-3000:]
    misses = kconfig.verify(kbuild.fragments_for("baseline"), proc.stdout)
    assert misses == [], [m.describe() for m in misses]
    assert "/dev/vdb" in proc.stdout  # swap disk on, with no modules to load
