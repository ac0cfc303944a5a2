from pathlib import Path

import pytest

from harness.errors import ExperimentConfigError
from harness.experiment import experiment

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


K = "kernels: [{kernel: distro:debian-6.1}]"


@pytest.mark.parametrize("text, field, line, reason", [
    ("name: t\nkernels: []\nworkloads: [{name: pressure}]", "kernels", 2, "non-empty list"),
    ("kernels: [{kernel: foo}]\nworkloads: [{name: pressure}]", "kernels[0].kernel", 1,
     "is not distro:NAME"),
    (f"{K}\nworkloads: [{{name: nope}}]", "workloads[0].name", 2, "is not one of"),
    (f"{K}\nworkloads: [{{name: pressure, params: {{passes: 0}}}}]",
     "workloads[0].params", 2, "passes=0"),
    (f"{K}\nworkloads: [{{name: pressure, params: {{colour: red}}}}]",
     "workloads[0].params", 2, "unknown parameter 'colour'"),
    (f"{K}\nworkloads: [{{name: pressure, params: {{mix: {{zero: 50, text: 40}}}}}}]",
     "workloads[0].params", 2, "add up to 90"),
    (f"guest: {{memory_mib: 12}}\n{K}\nworkloads: [{{name: pressure}}]",
     "guest.memory_mib", 1, "out of range"),
    (f"guest: {{accel: fast}}\n{K}\nworkloads: [{{name: pressure}}]",
     "guest.accel", 1, "not one of auto, kvm, tcg"),
    (f"swap: {{iotune: {{bps: 1}}}}\n{K}\nworkloads: [{{name: pressure}}]",
     "swap.iotune.bps", 1, "unknown field"),
    (f"swap: {{iotune_scale: fast}}\n{K}\nworkloads: [{{name: pressure}}]",
     "swap.iotune_scale", 1, "expected none, tcg or a number"),
    ("kernels: [{kernel: distro:debian-6.1, iotune_scale: 0}]\nworkloads: [{name: pressure}]",
     "kernels[0].iotune_scale", 1, "expected none, tcg or a number"),
    ("kernels: [{kernel: distro:debian-6.1, iotune: {iops: 1}}]\nworkloads: [{name: pressure}]",
     "kernels[0].iotune.iops", 1, "unknown field"),
    (f"colour: red\n{K}\nworkloads: [{{name: pressure}}]", "colour", 1, "unknown field"),
    ("kernels: [{kernel: distro:debian-6.1}, {kernel: distro:debian-6.1}]\n"
     "workloads: [{name: pressure}]", "kernels", 1, "used twice"),
    ("kernels: [{kernel: distro:x}\n", "(yaml)", 2, "invalid YAML"),
    ("- just\n- a list\n", "(top level)", 1, "expected a mapping"),
])
def test_mistakes_name_file_line_and_field(tmp_path, text, field, line, reason):
    path = write(tmp_path, text)
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    err = info.value
    assert err.file == str(path) and err.field == field and reason in err.reason
    assert err.line == line
    assert str(err).startswith(f"{path}:{line}: {field}: ") and "\n" not in str(err)
    assert err.exit_code == 2


def test_kernel_entries_override_the_swap_disk_limits_and_their_scaling(tmp_path):
    exp = experiment.load(write(tmp_path, """
swap: {iotune: {total_iops_sec: 20000}, iotune_scale: tcg}
kernels:
  - {name: ssd, kernel: distro:debian-6.1}
  - {name: hdd, kernel: distro:debian-6.1, iotune: {total_iops_sec: 150}, iotune_scale: none}
  - {name: nvme, kernel: distro:debian-6.1, iotune: {total_iops_sec: 500000}, iotune_scale: 3}
workloads: [{name: pressure}]
"""))
    assert exp.swap["iotune_scale"] == "tcg"
    by = {k.label: (k.iotune, k.iotune_scale) for k in exp.kernels}
    assert by == {"ssd": (None, None), "hdd": ({"total_iops_sec": 150}, "none"),
                  "nvme": ({"total_iops_sec": 500000}, 3.0)}


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ExperimentConfigError, match="cannot read"):
        experiment.load(tmp_path / "absent.yaml")


def test_shipped_experiments_are_valid():
    for path in sorted(Path(experiment.__file__).parent.parent.glob("experiments/**/*.yaml")):
        assert experiment.load(path).runs(), path


BLOCK = """\
name: t
guest:
  memory_mib: 256
kernels:
  - name: a
    kernel: distro:debian-6.1
  - name: b
    kernel: {kernel}
workloads:
  - name: pressure
backend:
  cap: {cap}
"""


@pytest.mark.parametrize("kernel, field, line, reason", [
    ("distro:debian-99", "kernels[1].kernel", 8, "unknown distro kernel 'debian-99'"),
    ("config:nosuch", "kernels[1].kernel", 8, "no kernel config 'nosuch'"),
    ("tree:/nonexistent/linux", "kernels[1].kernel", 8, "no such directory"),
    ("image:/nonexistent/bzImage", "kernels[1].kernel", 8, "no such file"),
])
def test_kernel_specs_checked_at_load_without_fetching(tmp_path, kernel, field, line, reason):
    path = write(tmp_path, BLOCK.format(kernel=kernel, cap="1G"))
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    assert (info.value.field, info.value.line) == (field, line)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


def test_existing_tree_and_image_kernels_pass(tmp_path):
    (tmp_path / "linux").mkdir()
    (tmp_path / "bzImage").write_bytes(b"\0")
    for spec in (f"tree:{tmp_path / 'linux'}", f"image:{tmp_path / 'bzImage'}",
                 "config:baseline"):
        assert experiment.load(write(tmp_path, BLOCK.format(kernel=spec, cap="1G"))).kernels


def test_config_field_names_a_known_fragment_set(tmp_path):
    (tmp_path / "linux").mkdir()
    text = BLOCK.format(kernel=f"tree:{tmp_path / 'linux'}", cap="1G") \
        .replace("    kernel: tree:", "    config: nosuch\n    kernel: tree:")
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, text))
    assert (info.value.field, info.value.line) == ("kernels[1].config", 8)


@pytest.mark.parametrize("cap, ok, value", [
    ("512MiB", True, 512 << 20), ("512M", True, 512 << 20), ("2G", True, 2 << 30),
    (4096, True, 4096), ("5x", False, None), ("lots", False, None), (-1, False, None),
])
def test_backend_cap_follows_the_backend_cli_rule(tmp_path, cap, ok, value):
    """One rule for the experiment and for `tmemlab backend serve --cap` (they drifted:
    "512MiB" was refused here but accepted there, "5x" the reverse)."""
    path = write(tmp_path, BLOCK.format(kernel="distro:debian-6.1-cloud", cap=cap))
    assert _cli_accepts_cap(str(cap)) == ok
    if ok:
        assert experiment.load(path).backend == {"cap": value}
    else:
        with pytest.raises(ExperimentConfigError) as info:
            experiment.load(path)
        assert (info.value.field, info.value.line) == ("backend.cap", 12)
        assert "bad size" in info.value.reason


def _cli_accepts_cap(text: str) -> bool:
    from host_backend import cli
    args = ["serve", "--control", "/nonexistent/c", "--cap", text]
    try:
        cli.config_from_args(cli.build_parser().parse_args(args))
    except cli.UsageError:
        return False
    return True


def test_non_utf8_file_is_one_line_exit_2(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"name: t\n# caf\xe9\nkernels: []\n")
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    err = info.value
    assert (err.field, err.line, err.exit_code) == ("(file)", 2, 2)
    assert "not UTF-8" in err.reason and "0xe9" in err.reason


def test_missing_required_list_names_the_field(tmp_path):
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, "workloads: [{name: pressure}]\n"))
    assert info.value.field == "kernels" and "non-empty list" in info.value.reason


def test_allow_ram_backed_swap_is_a_field(tmp_path):
    text = f"swap: {{allow_ram_backed: true}}\n{K}\nworkloads: [{{name: pressure}}]\n"
    assert experiment.load(write(tmp_path, text)).swap["allow_ram_backed"] is True
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, text.replace("true", "yes please")))
    assert info.value.field == "swap.allow_ram_backed"


def test_a_key_given_twice_is_a_mistake(tmp_path):
    """YAML loaders keep the last of two equal keys without a word."""
    text = f"swap: {{size_mib: 1}}\n{K}\nworkloads: [{{name: pressure, params: {{passes: 1, passes: 2}}}}]\n"
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, text))
    assert (info.value.field, info.value.line) == ("workloads[0].params.passes", 3)
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, f"swap: {{}}\n{K}\nswap: {{}}\n"))
    assert (info.value.field, info.value.line, info.value.reason) == \
        ("swap", 3, "given twice (first on line 1)")


def test_matrix_values_must_be_a_non_empty_list(tmp_path):
    text = f"{K}\nworkloads:\n  - name: pressure\n    matrix:\n      pattern: seq\n"
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(write(tmp_path, text))
    assert (info.value.field, info.value.line) == ("workloads[0].matrix.pattern", 5)
    assert info.value.reason == "expected a non-empty list of values"


@pytest.mark.parametrize("cmdline, reason", [
    ("tmem.mode=fast", "tmem.mode=fast: expected one of sync, async"),
    ("tmem.mode=async tmem.window=4096", "tmem.window=4096: expected an integer in 1..2048"),
    ("tmem.batch=0", "tmem.batch=0: expected an integer in 1..1024"),
    ("tmem.windw=8", "tmem has no parameter 'windw'"),
])
def test_tmem_frontend_parameters_checked_at_load(tmp_path, cmdline, reason):
    text = BLOCK.format(kernel="config:tmem", cap="1G").replace(
        "    kernel: config:tmem", f"    kernel: config:tmem\n    cmdline: {cmdline}")
    path = write(tmp_path, text)
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    assert info.value.field == "kernels[1].cmdline" and reason in info.value.reason


def test_tmem_frontend_modes_pass(tmp_path):
    text = BLOCK.format(kernel="config:tmem", cap="1G").replace(
        "    kernel: config:tmem",
        "    kernel: config:tmem\n    cmdline: tmem.mode=async tmem.window=256 tmem.batch=32")
    assert experiment.load(write(tmp_path, text)).kernels


def test_a_kernel_entry_may_run_with_its_own_vcpus(tmp_path):
    text = BLOCK.format(kernel="config:tmem", cap="1G").replace(
        "    kernel: config:tmem", "    kernel: config:tmem\n    vcpus: 2")
    exp = experiment.load(write(tmp_path, text))
    assert [k.vcpus for k in exp.kernels] == [None, 2]


PACKAGES = "kernels: [{kernel: distro:debian-6.1}]\nworkloads: [{name: pressure}]\npackages:\n"


@pytest.mark.parametrize("items, field, line, reason", [
    ("  - Redis\n", "packages", 3, "not a Debian package name"),
    ("  - redis-server\n  - redis-server\n", "packages", 3, "redis-server given twice"),
    ("  - bc\n  - no-such-package-tmemlab\n", "packages[1]", 5,
     "no-such-package-tmemlab: no such package"),
])
def test_packages_are_debian_names_the_host_apt_knows(tmp_path, items, field, line, reason):
    # apt-cache is the real one: the image build fetches through the same sources.
    path = write(tmp_path, PACKAGES + items)
    with pytest.raises(ExperimentConfigError) as info:
        experiment.load(path)
    err = info.value
    assert (err.field, err.line) == (field, line) and reason in err.reason, str(err)


def test_packages_are_recorded_with_the_experiment(tmp_path):
    exp = experiment.load(write(tmp_path, PACKAGES + "  - redis-server\n  - bc\n"))
    assert exp.packages == ("redis-server", "bc")
    assert exp.resolved()["packages"] == ["redis-server", "bc"]
    assert experiment.load(write(tmp_path, PACKAGES.replace("packages:\n", ""))).packages == ()
