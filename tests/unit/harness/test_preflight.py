"""Pre-flight decisions on captured mountinfo and numbers; one real read of this host."""

from pathlib import Path

import pytest

from harness.errors import PreflightError
from harness.experiment import experiment
from harness.vm import preflight

DATA = Path(__file__).resolve().parents[2] / "data" / "preflight"
MOUNTS = preflight.parse_mountinfo((DATA / "mountinfo.txt").read_text())

EXP = """
swap: {{size_mib: 1024{extra}}}
kernels:
  - {{name: a, kernel: distro:debian-6.1}}
  - {{name: b, kernel: distro:debian-6.1-cloud, swap_mib: {b_swap}}}
workloads: [{{name: pressure}}]
"""


def exp(tmp_path, b_swap=2048, extra=""):
    path = tmp_path / "e.yaml"
    path.write_text(EXP.format(b_swap=b_swap, extra=extra))
    return experiment.load(path)


def test_mountinfo_parse_unescapes_and_keeps_fstype():
    assert preflight.Mount("/mnt/small scratch", "ext4", "/dev/loop0") in MOUNTS
    assert preflight.mount_of(Path("/dev/shm/x/y"), MOUNTS).fstype == "tmpfs"
    assert preflight.mount_of(Path("/mnt/small scratch/s"), MOUNTS).mount_point == \
        "/mnt/small scratch"
    assert preflight.mount_of(Path("/var/tmp"), MOUNTS).fstype == "ext4"
    # two mounts on one point: the later one is what a path reaches
    assert preflight.mount_of(Path("/root/.cache/tmemlab/ram/s"), MOUNTS).fstype == "ramfs"


def test_swap_disk_is_the_largest_of_any_run(tmp_path):
    assert preflight.swap_disk_mib(exp(tmp_path)) == 2048
    assert preflight.swap_disk_mib(exp(tmp_path, b_swap=0)) == 1024


def scratch(fstype="ext4", free=10 << 30):
    return preflight.Scratch("/s/scratch", "/s", fstype, free)


def test_enough_space_passes_and_records_facts(tmp_path):
    found = preflight.decide(exp(tmp_path), scratch())
    assert found.needed_bytes == (2048 + preflight.OVERLAY_BOUND_MIB) << 20
    assert found.to_json()["fstype"] == "ext4" and not found.ram_backed


def test_too_little_space_names_path_needed_and_free(tmp_path):
    needed = (2048 + preflight.OVERLAY_BOUND_MIB) << 20
    with pytest.raises(PreflightError) as info:
        preflight.decide(exp(tmp_path), scratch(free=needed - 1))
    line = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in line
    assert "/s/scratch" in line and f"needs {needed} bytes" in line
    assert f"{needed - 1} bytes free" in line


@pytest.mark.parametrize("fstype", ["tmpfs", "ramfs"])
def test_ram_backed_swap_disk_is_refused_unless_allowed(tmp_path, fstype):
    with pytest.raises(PreflightError, match=f"on {fstype}.*allow_ram_backed"):
        preflight.decide(exp(tmp_path), scratch(fstype))
    allowed = preflight.decide(exp(tmp_path, extra=", allow_ram_backed: true"),
                               scratch(fstype))
    assert allowed.ram_backed and allowed.allow_ram_backed


def test_no_swap_disk_may_live_in_ram(tmp_path):
    text = EXP.format(b_swap=0, extra="").replace("size_mib: 1024", "size_mib: 0")
    (tmp_path / "e.yaml").write_text(text)
    assert preflight.decide(experiment.load(tmp_path / "e.yaml"), scratch("tmpfs"))


def test_reads_this_host(tmp_path):
    """A real read: /dev/shm is tmpfs on Linux, and the test's tmp dir has free space."""
    found = preflight.read_scratch(tmp_path / "not" / "yet")
    assert found.free_bytes > 0 and found.fstype != "unknown"
    if Path("/dev/shm").is_dir():
        assert preflight.read_scratch(Path("/dev/shm")).fstype == "tmpfs"
