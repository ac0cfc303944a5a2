"""tmemlab-cpubench: the per-page CPU kernels that harness/run/dilation.py compares."""

import json
import subprocess

from harness.run import dilation


def test_prints_both_kernels_with_positive_costs(tools):
    out = subprocess.run([tools / "tmemlab-cpubench", "--seconds", "0.2", "--pages", "16"],
                         capture_output=True, text=True, check=True).stdout
    data = dilation.parse_bench(out)
    assert data["page_size"] == 4096 and data["pages"] == 16
    assert data["memcpy"]["ops"] > 0 and data["lz4"]["ops"] > 0
    # compressing a page costs more than copying it, on any CPU
    assert data["lz4"]["ns_per_page"] > data["memcpy"]["ns_per_page"]
    # pressure's default mix: 30 % random pages, the rest compressible
    assert 1.2 < data["lz4"]["ratio"] < 5
    assert json.loads(out) == data


def test_bad_arguments_exit_2_with_one_line(tools):
    for argv in (["--seconds", "0"], ["--pages", "x"], ["extra"]):
        proc = subprocess.run([tools / "tmemlab-cpubench", *argv], capture_output=True,
                              text=True)
        assert proc.returncode == 2, argv
        assert len(proc.stderr.splitlines()) == 1 and not proc.stdout
