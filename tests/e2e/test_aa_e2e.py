"""A/A: the same kernel under two names, three interleaved iterations of a small pressure
workload. Nothing may be marked significant and the regression gate must pass whichever copy
is the reference (issue 9: before Holm's correction and per-workload primary metrics, the
same experiment marked 2 of 25 metrics significant and the gate's verdict depended on which
identical copy was the reference)."""

import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

# Each run stays well under a minute under TCG: 256M working set in a 192 MiB guest, one
# sequential pass, then the final verify sweep; 384 MiB of swap disk.
EXPERIMENT = """
name: aa
description: A/A - distro:debian-6.1-cloud under two names
guest: {memory_mib: 192, vcpus: 1, accel: auto, boot_timeout_s: 150}
swap: {size_mib: 384, cache: none}
kernels:
  - {name: a, kernel: distro:debian-6.1-cloud}
  - {name: b, kernel: distro:debian-6.1-cloud}
workloads:
  - name: pressure
    params: {size: 256M, passes: 1, pattern: seq, write_ratio: 0.2}
    timeout_s: 300
iterations: 3
"""
LABELS = ("a+pressure", "b+pressure")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("aa")
    path = tmp / "aa.yaml"
    path.write_text(EXPERIMENT)
    proc = tmemlab("run", str(path), "--results", str(tmp / "results"))
    dirs = list((tmp / "results").iterdir())
    assert len(dirs) == 1, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dirs[0]


def _compare(results, reference: str):
    out = results / f"compare-ref-{reference}"
    proc = tmemlab("compare", str(results), "--reference", reference, "--out", str(out),
                   "--fail-on-regression", "5", "--no-plots", "-q", timeout=300)
    return proc, json.loads((out / "comparison.json").read_text())


def test_every_run_passed_with_phase_times(results):
    runs = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["run_id"] for r in runs) == sorted(
        f"{label}-i{i}" for label in LABELS for i in (1, 2, 3))
    for run in runs:
        assert run["status"] == "passed", run.get("failure")
        assert run["result"]["fill_elapsed_s"] > 0 and run["result"]["elapsed_s"] > 0
        assert run["deltas"]["pswpout"] > 0  # it really swapped


@pytest.mark.parametrize("reference", LABELS)
def test_aa_nothing_significant_and_gate_passes(results, reference):
    proc, data = _compare(results, reference)
    other = next(c for c in data["columns"] if c["reference"] is not None)
    assert other["reference"] == reference
    family = other["family"]
    # fill, passes (elapsed and throughput), final verify, total and latency percentiles
    assert {"fill_elapsed_s", "elapsed_s", "pages_per_sec", "total_elapsed_s",
            "final_verify_elapsed_s"} <= set(family["tested"])
    tested = [(m["name"], m["cells"][other["key"]]) for m in data["metrics"]
              if m["cells"][other["key"]]["p_value"] is not None]
    smallest = min(tested, key=lambda t: t[1]["p_value"])
    print(f"A/A reference {reference}: {len(data['metrics'])} metrics, "
          f"{family['size']} tested; smallest raw p {smallest[0]} "
          f"p={smallest[1]['p_value']:.3g} Holm {smallest[1]['p_adjusted']:.3g}; "
          f"geomean {other['geomean']}; gate exit {proc.returncode}")
    assert not [name for name, cell in tested if cell["significant"]]
    assert not any(cell["significant"] for m in data["metrics"]
                   for cell in m["cells"].values())
    assert other["verdict"]["text"] == "no significant difference"
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "regression" not in proc.stderr
