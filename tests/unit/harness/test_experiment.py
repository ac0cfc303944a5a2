from pathlib import Path

import pytest

from harness import experiment
from harness.errors import ExperimentConfigError

GOOD = """
name: t
guest: {memory_mib: 192}
swap: {size_mib: 256, iotune: {total_bytes_sec: 1000000}}
kernels:
  - {name: zs, kernel: distro:debian-6.1, cmdline: [zswap.enabled=1, zswap.enabled=0]}
  - {kernel: distro:debian-6.1-cloud}
workloads:
  - name: pressure
    params: {size_pct_of_ram: 200, passes: 1}
    matrix: {pattern: [seq, random]}
iterations: 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_expands_kernels_variants_matrix_and_iterations(tmp_path):
    exp = experiment.load(write(tmp_path, GOOD))
    runs = exp.runs()
    assert len(runs) == 3 * 2 * 2
    assert {r.kernel.label for r in runs} == {"zs-1", "zs-2", "debian-6.1-cloud"}
    assert {r.workload.label for r in runs} == {"pressure-patternseq", "pressure-patternrandom"}
    assert runs[0].iteration == 1 and runs[-1].iteration == 2
    assert runs[0].run_id == "zs-1+pressure-patternseq-i1"
    assert exp.guest == {"memory_mib": 192, "vcpus": 1, "accel": "auto", "boot_timeout_s": 120}
    assert exp.resolved()["swap"]["iotune"] == {"total_bytes_sec": 1000000}


@pytest.mark.parametrize("text, field, reason", [
    ("name: t\nkernels: []\nworkloads: [{name: pressure}]", "kernels", "non-empty list"),
    ("kernels: [{kernel: foo}]\nworkloads: [{name: pressure}]", "kernels[0].kernel",
     "is not distro:NAME"),
    ("kernels: [{kernel: distro:x}]\nworkloads: [{name: nope}]", "workloads[0].name",
     "is not one of"),
    ("kernels: [{kernel: distro:x}]\nworkloads: [{name: pressure, params: {passes: 0}}]",
     "workloads[0].params", "passes=0"),
    ("kernels: [{kernel: distro:x}]\nworkloads: [{name: pressure, params: {colour: red}}]",
     "workloads[0].params", "unknown parameter 'colour'"),
    ("kernels: [{kernel: distro:x}]\nworkloads: [{name: pressure, "
     "params: {mix: {zero: 50, text: 40}}}]", "workloads[0].params", "add up to 90"),
    ("guest: {memory_mib: 12}\nkernels: [{kernel: distro:x}]\nworkloads: [{name: pressure}]",
     "guest.memory_mib", "out of range"),
    ("guest: {accel: fast}\nkernels: [{kernel: distro:x}]\nworkloads: [{name: pressure}]",
     "guest.accel", "not one of auto, kvm, tcg"),
    ("swap: {iotune: {bps: 1}}\nkernels: [{kernel: distro:x}]\nworkloads: [{name: pressure}]",
     "swap.iotune.bps", "unknown field"),
    ("colour: red\nkernels: [{kernel: distro:x}]\nworkloads: [{name: pressure}]",
     "colour", "unknown field"),
    ("kernels: [{kernel: distro:x}, {kernel: distro:x}]\nworkloads: [{name: pressure}]",
     "kernels", "used twice"),
    ("kernels: [{kernel: distro:x}\n", "line 2", "invalid YAML"),
    ("- just\n- a list\n", "(top level)", "expected a mapping"),
])
def test_mistakes_name_file_and_field(tmp_path, text, field, reason):
    path = write(tmp_path, text)
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    err = info.value
    assert err.file == str(path) and err.field == field and reason in err.reason
    assert str(err).startswith(f"{path}: {field}: ") and "\n" not in str(err)
    assert err.exit_code == 2


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ExperimentConfigError, match="cannot read"):
        experiment.load(tmp_path / "absent.yaml")


def test_shipped_experiments_are_valid():
    for path in sorted(Path(experiment.__file__).parent.parent.glob("experiments/*.yaml")):
        assert experiment.load(path).runs(), path
