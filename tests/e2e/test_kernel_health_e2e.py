"""Kernel health end to end: a real BUG, WARNING and soft lockup provoked in a guest
during a workload (the ``lkdtm`` fault action), and the verdict each one gets.

Debian's 6.1 kernel has no CONFIG_LKDTM, so tests/e2e/lkdtm_lite (LKDTM's DIRECT
interface for the three crash types) is built against Debian's headers for the exact
distro kernel (apt-get download of three packages, cached) and loaded by the fault."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent

EXPERIMENT = """
name: {name}
guest: {{memory_mib: 256, vcpus: 2, accel: auto, boot_timeout_s: 150}}
swap: {{size_mib: 128}}
kernels: [{{name: debian, kernel: "distro:debian-6.1", cmdline: "{cmdline}"}}]
workloads:
  - {{name: pressure, params: {{size: 32M, duration: {duration}}}, timeout_s: {timeout}}}
faults: [{{at_s: 3, action: lkdtm, type: {type}, module: "{module}"}}]
"""


def _headers(release: str, version: str, entry: Path) -> None:
    """Debian's kbuild tree for ``release`` unpacked into ``entry/root``."""
    flavour = release.rsplit("-", 1)[0]                 # 6.1.0-57
    series = ".".join(release.split(".")[:2])            # 6.1
    pkgs = [f"linux-headers-{release}={version}", f"linux-headers-{flavour}-common={version}",
            f"linux-kbuild-{series}={version}"]
    subprocess.run(["apt-get", "download", *pkgs], cwd=entry, check=True,
                   capture_output=True)
    for deb in entry.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", deb, entry / "root"], check=True)
        deb.unlink()


def _point_at_common_tree(tree: Path) -> None:
    """The package's Makefile includes the common tree by its installed absolute path;
    point it at the unpacked one (the cache entry is renamed into place after a build,
    so this is done where the tree finally lies)."""
    makefile = tree / "Makefile"
    text = re.sub(r"include \S*/(linux-headers-[^/]+-common)/Makefile",
                  f"include {tree.parent}/\\1/Makefile", makefile.read_text())
    makefile.write_text(text)


@pytest.fixture(scope="module")
def lkdtm_module(tmp_path_factory) -> Path:
    from harness.build import cache, kernels
    from harness.paths import cache_dir

    kernel = kernels.resolve("distro:debian-6.1", None)
    entry, _ = cache.ensure_entry(cache_dir("test-headers") / kernel.release,
                                  lambda e: _headers(kernel.release, kernel.version, e))
    build = tmp_path_factory.mktemp("lkdtm_lite")
    for name in ("lkdtm_lite.c", "Kbuild"):
        shutil.copy(HERE / "lkdtm_lite" / name, build / name)
    tree = entry / "root/usr/src" / f"linux-headers-{kernel.release}"
    _point_at_common_tree(tree)
    done = subprocess.run(["make", "-C", tree, f"M={build}", "modules"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return build / "lkdtm_lite.ko"


def provoke(tmp_path, module: Path, crash_type: str, cmdline: str = "",
            duration: int = 20) -> tuple[subprocess.CompletedProcess, dict, Path]:
    name = f"health-{crash_type.lower()}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(EXPERIMENT.format(name=name, type=crash_type, module=module,
                                      cmdline=cmdline, duration=duration,
                                      timeout=duration + 25))
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"), timeout=600)
    (run_file,) = (tmp_path / "results").glob(f"{name}-*/runs/*.json")
    run = json.loads(run_file.read_text())
    assert [e["event"] for e in run["faults"]] == [f"lkdtm {crash_type}"], run["faults"]
    return proc, run, run_file.parent.parent


def test_bug_fails_the_run_with_the_bug_line(tmp_path, lkdtm_module):
    proc, run, _ = provoke(tmp_path, lkdtm_module, "BUG")
    assert proc.returncode != 0
    assert run["status"] == "failed"
    assert re.match(r"kernel failure on console( and dmesg)?: kernel BUG at "
                    r"\S*lkdtm_lite\.c:\d+!", run["failure"]["reason"]), run["failure"]
    assert {m["pattern"] for m in run["kernel_log"]["fatal"]} >= {"kernel_bug",
                                                                 "invalid_opcode"}


def test_warning_is_listed_and_the_run_passes(tmp_path, lkdtm_module):
    proc, run, results = provoke(tmp_path, lkdtm_module, "WARNING")
    assert run["status"] == "passed", run.get("failure")
    assert proc.returncode == 0
    (warn,) = [m for m in run["kernel_log"]["warning"] if m["pattern"] == "warn"]
    # loglevel=5: the warning is on the console as well as in the saved dmesg
    assert "lkdtm_lite" in warn["line"] and warn["source"] == "console+dmesg"
    assert "WARNING: CPU:" in (results / "console" / f"{run['run_id']}.dmesg").read_text()
    assert "lkdtm_lite" in (results / "summary.md").read_text()


def test_soft_lockup_fails_the_run_naming_it(tmp_path, lkdtm_module):
    # watchdog_thresh=3: a soft lockup is reported after 6 s and again every 6 s. Under
    # TCG only a repeated report is fatal (health.py), and the first one came 9-22 s after
    # the lockup began on a loaded host: with a 20 s workload the log was read once, after
    # a single report (the cold make test, 2026-12-04). 45 s leaves room for several.
    proc, run, _ = provoke(tmp_path, lkdtm_module, "SOFTLOCKUP", "watchdog_thresh=3",
                           duration=45)
    assert proc.returncode != 0
    assert run["status"] == "failed"
    reason = run["failure"]["reason"]
    assert "BUG: soft lockup - CPU#" in reason, run["failure"]
    if run["guest"]["accel"] == "tcg":
        assert "persistent" in reason
