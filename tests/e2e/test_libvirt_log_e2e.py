"""libvirt's own log lines stay out of tmemlab's output (issue 14): two tmemlab processes
sharing the cache (the second on a private libvirt root) over files carrying another
libvirt instance's ownership XATTRs printed "Invalid XATTR timestamp" warnings, logged in
libvirt's forked relabelling child, whose logging virFork resets to stderr."""

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, tmemlab

pytestmark = pytest.mark.e2e
LIBVIRT_LINE = re.compile(r"\d{4}-\d\d-\d\d [\d:.]+\+\d{4}: \d+: (info|warning|error) : ")


def test_two_tmemlab_sharing_the_cache_print_no_libvirt_log_lines():
    fetched = tmemlab("kernel", "fetch", "distro:debian-6.1")
    assert fetched.returncode == 0, fetched.stderr
    files = [line.split()[-1] for line in (fetched.stdout + fetched.stderr).splitlines()
             if line.strip().startswith(("bzImage", "initramfs"))]
    assert len(files) == 2, fetched.stdout
    for path in files:  # what another libvirt instance, since gone, would have left
        for name, value in (("dac", b"+0:+0"), ("ref_dac", b"1"), ("timestamp_dac", b"1")):
            os.setxattr(path, f"trusted.libvirt.security.{name}", value)
    argv = [sys.executable, "-m", "harness", "boot", "distro:debian-6.1", "--swap", "0",
            "--", "true"]
    both = [subprocess.Popen(argv, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for _ in range(2)]
    for proc in both:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        assert not [ln for ln in (out + err).splitlines() if LIBVIRT_LINE.search(ln)], err
