import json
import shlex

import pytest

from harness.run.workloads import WORKLOADS

PRESSURE = WORKLOADS["pressure"]
STRESS = WORKLOADS["stress-ng"]


def test_pressure_command_maps_params_to_flags():
    cmd = shlex.split(PRESSURE.command({"size_pct_of_ram": 200, "pattern": "zipf",
                                        "mix": {"zero": 20, "text": 80}, "thp": True,
                                        "write_ratio": 0.5}))
    assert cmd[0] == "/usr/local/bin/pressure"
    assert cmd[cmd.index("--size-pct-of-ram") + 1] == "200"
    assert cmd[cmd.index("--mix") + 1] == "zero=20,text=80"
    assert cmd[cmd.index("--write-ratio") + 1] == "0.5"
    assert "--thp" in cmd
    assert "--final-verify" in cmd  # on unless a run turns it off
    assert "--final-verify" not in PRESSURE.command({"final_verify": False})


@pytest.mark.parametrize("params", [{"size": "1.5G"}, {"pattern": "spiral"},
                                    {"size": "1G", "size_pct_of_ram": 10},
                                    {"passes": 1, "duration": 3}, {"threads": True}])
def test_pressure_rejects_bad_params(params):
    with pytest.raises(ValueError):
        PRESSURE.validate(params)


def result(corrupted=0):
    return json.dumps({"workload": "pressure", "pages_per_sec": 10.0,
                       "corrupted_pages": corrupted})


def test_pressure_parse_passes_clean_run():
    res, failure = PRESSURE.parse(0, "noise\n" + result(), "")
    assert failure is None and res["pages_per_sec"] == 10.0


def test_pressure_parse_fails_on_corruption_even_with_exit_zero():
    _res, failure = PRESSURE.parse(0, result(corrupted=3), "")
    assert failure == "3 corrupted pages"


def test_pressure_parse_fails_without_json():
    _res, failure = PRESSURE.parse(137, "", "Killed\n")
    assert "no JSON" in failure and "Killed" in failure


STRESS_OUT = """stress-ng: info: dispatching hogs: 1 vm
---
system-info:
  stress-ng-version: 0.15.06
metrics:
    - stressor: vm
      bogo-ops: 1234
      bogo-ops-per-second-real-time: 41.1
      wall-clock-time: 30.01
"""


def test_stress_ng_parse_reads_yaml_metrics():
    res, failure = STRESS.parse(0, STRESS_OUT, "")
    assert failure is None
    assert res["bogo_ops"] == 1234 and res["bogo_ops_per_sec"] == 41.1


def test_stress_ng_verification_failure_fails_the_run():
    _res, failure = STRESS.parse(2, STRESS_OUT, "stress-ng: fail: [12] vm: detected memory error")
    assert "verification" in failure


def test_stress_ng_zero_bogo_ops_fails():
    # Found: a stress-ng run whose bogo-op counters were all zero passed.
    out = STRESS_OUT.replace("bogo-ops: 1234", "bogo-ops: 0")
    _res, failure = STRESS.parse(0, out, "stress-ng: warn: [9] metrics-check: all bogo-op "
                                         "counters are zero, data may be incorrect")
    assert failure == ("stress-ng vm did no measured work (bogo ops: 0); stress-ng warned "
                       "the data may be incorrect")


@pytest.mark.parametrize("method", ["galpat-0", "modulo-x", "walk-0d", "zero-one", "all",
                                    "flip"])
def test_stress_ng_accepts_real_method_names(method):
    STRESS.validate({"vm_method": method})


@pytest.mark.parametrize("method", ["nosuch", "galpat_0", 3])
def test_stress_ng_rejects_unknown_methods(method):
    with pytest.raises(ValueError, match="vm_method"):
        STRESS.validate({"vm_method": method})


def test_stress_ng_all_methods_is_noted():
    assert "only the first" in STRESS.notes({"duration": 30})[0]
    assert STRESS.notes({"vm_method": "flip"}) == []


@pytest.mark.parametrize("status, err, reason", [
    (135, "", "stress-ng killed by SIGBUS"),
    (-7, "", "stress-ng killed by SIGBUS"),
    (2, "stress-ng: info: [9] vm: child died: signal 7 'SIGBUS' (instance 0)",
     "a stress-ng worker killed by SIGBUS"),
])
def test_stress_ng_killed_by_a_signal_says_so(status, err, reason):
    _res, failure = STRESS.parse(status, STRESS_OUT, err)
    assert failure.startswith(reason) and "data loss" in failure


def test_tmem_pools_command_and_result():
    from harness.run.workloads import WORKLOADS
    w = WORKLOADS["tmem-pools"]
    w.validate({"sizes": ["4K", "2M"], "bytes": "8M", "batch": 16})
    with pytest.raises(ValueError, match="sizes"):
        w.validate({"sizes": ["3K"]})
    assert w.command({"sizes": ["4K", "2M"], "bytes": "8M"}) == \
        "/usr/local/bin/tmemlab-pools --sizes 4K,2M --bytes 8M"
    ok = '{"sizes": [{"page_size": 4096, "gone_after_flush": true}], "corrupted_pages": 0}'
    assert w.parse(0, ok, "") == (json.loads(ok), None)
    assert w.parse(3, ok.replace('"corrupted_pages": 0', '"corrupted_pages": 2'), "")[1] == \
        "2 corrupted pages"
    assert "after FLUSH" in w.parse(0, ok.replace("true", "false"), "")[1]
    assert "no JSON" in w.parse(1, "", "tmemlab-pools: no virtio-serial port named x")[1]
