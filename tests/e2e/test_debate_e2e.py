"""`make debate-quick` for real: every quick debate experiment boots its guests, and the
report gives each claim a verdict computed from those runs (none is left unmeasured),
with the conditions (accelerator, measured slowdown) it holds under."""

import json
import subprocess

import pytest

from tests.e2e.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.tmem_kernel]


@pytest.fixture(scope="module")
def debate(tmp_path_factory):
    out = tmp_path_factory.mktemp("debate")
    proc = subprocess.run(["make", "-s", "debate-quick", f"DEBATE_RESULTS={out}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=2400)
    folders = [p for p in out.iterdir() if p.name.startswith("debate-")]
    assert len(folders) == 1, proc.stderr[-3000:]
    return proc, folders[0]


def test_every_run_passed_and_the_report_is_written(debate):
    proc, folder = debate
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("DEBATE.md", "debate.html", "debate.json", "plots/throughput.png"):
        assert (folder / name).is_file(), name
    runs = [json.loads(p.read_text()) for p in folder.glob("*/runs/*.json")]
    assert runs and all(r["status"] == "passed" for r in runs)
    assert all(r["result"].get("corrupted_pages") == 0 for r in runs)


def test_each_claim_has_a_verdict_from_the_numbers(debate):
    _proc, folder = debate
    data = json.loads((folder / "debate.json").read_text())
    verdicts = {f["key"]: f["verdict"] for f in data["findings"]}
    assert set(verdicts) == {"4k", "sync", "disk", "copy", "batch", "xen"}
    assert all(v in ("supported", "refuted", "depends") for v in verdicts.values()), verdicts
    text = (folder / "DEBATE.md").read_text()
    assert text.count("\nVerdict: ") == 6
    accel = {r["guest"]["accel"] for r in (json.loads(p.read_text())
                                           for p in folder.glob("*/runs/*.json"))}
    assert f"accelerator: {', '.join(sorted(accel))}; the guest CPU measured" in text


def test_dilated_disks_ran_with_the_measured_divisor(debate):
    _proc, folder = debate
    for path in folder.glob("debate-quick-*/runs/disk-*-dilated*.json"):
        run = json.loads(path.read_text())
        divisor = run["guest"]["swap_iotune_scale"]["divisor"]
        if run["guest"]["accel"] == "tcg":
            assert divisor == pytest.approx(run["dilation"]["factor"], rel=0.01)
            assert divisor > 2   # TCG: the guest CPU is always several times slower
        asked = run["guest"]["swap_iotune_requested"]["total_iops_sec"]
        assert run["guest"]["swap_iotune"]["total_iops_sec"] == max(1, int(asked / divisor))
