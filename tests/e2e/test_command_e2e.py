"""Your own workload in a real guest: a script and a data file from the experiment's
folder copied in, env passed, the result rule's metric recorded and ranked; a command
that exits non-zero fails its run with its output tail."""

import hashlib
import json

import pytest

from tests.e2e.conftest import tmemlab

pytestmark = pytest.mark.e2e

JOB = """set -e
test "$(sha256sum /srv/data.bin | cut -d' ' -f1)" = "$WANT"
dd if=/dev/zero of=/tmp/fill bs=1M count=$MIB 2>/dev/null
echo "score: $(( $(wc -c < /srv/data.bin) / 1024 ))"
[ "$FAIL" = 0 ] || { echo "job failed on purpose" >&2; exit 7; }
"""
EXPERIMENT = """
name: {name}
guest: {{memory_mib: 160, accel: auto, boot_timeout_s: 150}}
swap: {{size_mib: 128}}
kernels: [{{name: d, kernel: "distro:debian-6.1"}}]
workloads:
  - name: command
    params:
      script: job.sh
      files: ["data.bin:/srv/data.bin"]
      env: {{WANT: "{sha}", MIB: 32, FAIL: {fail}}}
      result: {{regex: "score: (?P<kib>[0-9]+)", unit: KiB, better: higher}}
    timeout_s: 300
"""


@pytest.mark.parametrize("fail", [0, 1], ids=["passes", "exit-7-fails"])
def test_script_files_env_and_result(tmp_path, fail):
    data = bytes(range(256)) * 4096 * 3           # 3 MiB
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "job.sh").write_text(JOB)
    name = f"cmd{fail}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(EXPERIMENT.format(name=name, sha=hashlib.sha256(data).hexdigest(),
                                      fail=fail))
    proc = tmemlab("run", str(path), "--results", str(tmp_path / "results"))
    (run_file,) = (tmp_path / "results").glob(f"{name}-*/runs/*.json")
    run = json.loads(run_file.read_text())
    staged = {s["guest"]: s for s in run["workload"]["staged"]}
    assert staged["/srv/data.bin"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "/root/tmemlab-files/job.sh" in staged
    if not fail:
        assert proc.returncode == 0, (run.get("failure"), proc.stderr[-2000:])
        assert run["result"]["kib"] == 3072.0 and run["result"]["metric"]["better"] == "higher"
        table = json.loads((run_file.parent.parent / "compare" / "comparison.json").read_text())
        assert "kib" in json.dumps(table)
    else:
        assert proc.returncode == 1
        assert run["failure"]["reason"] == \
            "command exited 7 (expected 0): score: 3072 | job failed on purpose"
