"""The kernel-build workload's pure parts: parameters, the guest command, the verdict on
the guest script's JSON, the tree disk in the domain, and the experiment rules around it.
The guest half runs for real in tests/e2e/test_kernel_build_e2e.py."""

import json
import re
import shlex
from pathlib import Path

import pytest

from harness.build import kbuild_tree
from harness.build.images import RECIPE
from harness.errors import ExperimentConfigError
from harness.experiment import experiment
from harness.run import runner
from harness.run.workloads import WORKLOADS
from harness.vm.domain import DomainSpec, domain_xml

KB = WORKLOADS["kernel-build"]


def test_defaults_build_two_tinyconfig_directories_of_6_1_with_one_job():
    assert KB.tree({}) == ("6.1", "tinyconfig", ("kernel/sched/", "kernel/time/"))
    assert shlex.split(KB.command({})) == ["/usr/local/bin/tmemlab-kbuild", "1",
                                           "kernel/sched/", "kernel/time/"]
    assert shlex.split(KB.command({"jobs": 4, "targets": ["lib/sort.o"]}))[1:] == [
        "4", "lib/sort.o"]


@pytest.mark.parametrize("params, message", [
    ({"jobs": 0}, "jobs=0: expected 1..64"),
    ({"targets": []}, "targets: expected a non-empty list"),
    ({"targets": ["../etc/passwd"]}, "expected a path in the tree"),
    ({"targets": ["kernel/; rm -rf /"]}, "expected a path in the tree"),
    ({"config": "localmodconfig"}, "expected tinyconfig | allnoconfig | defconfig"),
    ({"series": "5.10"}, "expected 6.1 | 6.12"),
    ({"make": "-k"}, "unknown parameter 'make'"),
])
def test_bad_params_are_refused_with_the_reason(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        KB.validate(params)


def result(**fields) -> str:
    base = {"elapsed_s": 93.25, "make_exit": 0, "jobs": 2, "objects_checked": 19,
            "objects_mismatched": 0, "first_mismatch": "", "compiler": "gcc 12"}
    return "make: Leaving directory\n" + json.dumps({**base, **fields}) + "\n"


def test_a_clean_build_passes_with_its_elapsed_time():
    got, failure = KB.parse(0, result(), "")
    assert failure is None and got["elapsed_s"] == 93.25 and got["objects_checked"] == 19


def test_one_differing_object_fails_the_run_as_corruption():
    _, failure = KB.parse(0, result(objects_mismatched=1,
                                    first_mismatch="kernel/sched/fair.o: FAILED"), "")
    assert failure == ("1 of 19 objects differ from the host's build of the same sources "
                       "(corrupted): kernel/sched/fair.o: FAILED")


def test_make_failing_fails_the_run_with_its_output_tail():
    _, failure = KB.parse(0, result(make_exit=2), "cc1: out of memory\nmake: *** Error 2\n")
    assert failure == "make exited 2: cc1: out of memory | make: *** Error 2"


def test_a_set_up_error_and_a_killed_script_fail_naming_what_happened():
    _, failure = KB.parse(90, '{"setup_error": "cannot mount the tree disk"}\n', "")
    assert failure == "kernel-build: cannot mount the tree disk"
    _, failure = KB.parse(-9, "", "")
    assert failure.startswith("kernel-build killed by SIGKILL")


def test_the_guest_script_uses_the_hosts_paths_and_names():
    script = (RECIPE / "tmemlab-kbuild").read_text()
    for name, value in (("T", kbuild_tree.TREE_ROOT), ("O", kbuild_tree.BUILD_DIR),
                        ("LABEL", kbuild_tree.LABEL)):
        assert f"\n{name}={value}\n" in script, name
    for file in (kbuild_tree.PREPARED, kbuild_tree.REFERENCE, kbuild_tree.COMPILER):
        assert f"$T/{file}" in script, file


def test_the_tree_disk_is_read_only_and_after_the_swap_disk():
    spec = DomainSpec(name="g", accel="tcg", memory_mib=128, vcpus=1, kernel=Path("/k"),
                      initrd=Path("/i"), cmdline="", root_disk=Path("/r.qcow2"),
                      swap_disk=Path("/s.raw"), console_log=Path("/c"), tmem_socket=None,
                      ssh_port=None, data_disk=Path("/tree.img"))
    xml = domain_xml(spec)
    disks = re.findall(r'<target dev="(vd.)"', xml)
    assert disks == ["vda", "vdb", "vdc"]
    tree = xml[xml.index("/tree.img"):]
    assert "<readonly />" in tree[:tree.index("</disk>")]


EXP = """
name: kb
swap: {{size_mib: {swap}}}
kernels:
  - {{name: disk, kernel: distro:debian-6.1}}
workloads:
  - name: kernel-build
    matrix: {{jobs: [1, 4]}}
packages: [{packages}]
"""


def test_a_kernel_build_column_without_a_swap_disk_is_refused_at_load(tmp_path):
    path = tmp_path / "kb.yaml"
    path.write_text(EXP.format(swap=0, packages=""))
    with pytest.raises(ExperimentConfigError, match=r"kernels\[0\]\.swap_mib: kernel-build "
                                                    r"needs a swap disk"):
        experiment.load(path)


def test_the_image_gets_the_workloads_packages_beside_the_experiments(tmp_path):
    path = tmp_path / "kb.yaml"
    path.write_text(EXP.format(swap=256, packages="strace"))
    exp = experiment.load(path)
    assert runner.image_packages(exp) == ("bc", "gcc", "make", "strace")
    assert len(runner.guest_workloads(exp)) == 2
