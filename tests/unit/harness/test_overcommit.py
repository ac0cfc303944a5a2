"""The overcommit report from recorded runs: what each policy is (from what was in
effect), the budget M, the slowdown vs alone, and a headline only between equal budgets."""

import json

import pytest

from harness.report import overcommit

RESULT = {"pages": 1000, "passes": [{"pages": 1000}], "fill_elapsed_s": 1.0,
          "elapsed_s": 1.0, "final_verify_elapsed_s": None, "corrupted_pages": 0,
          "pages_per_sec": 500.0}


def member(label, i, technique, memory, rate, quota=None, cap=192 << 20):
    guest = {"memory_mib": memory, "accel": "tcg", "vcpus": 1, "swap_iotune": {}}
    data = {"run_id": f"{label}.g{i}-i1", "label": f"{label}.g{i}", "iteration": 1,
            "status": "passed", "failure": None, "group_member": {"index": i},
            "kernel": {"spec": "config:tmem" if technique == "tmem" else "distro:debian-6.1",
                       "cmdline_extra": "", "label": label.split("+")[0]},
            "workload": {"name": "pressure", "label": label.split("+")[1],
                         "params": {"size": "224M", "seed": i}, "command": "pressure"},
            "guest": guest, "result": {**RESULT, "fill_elapsed_s": 2000 / rate - 1.0}}
    if technique == "tmem":
        guest["tmem_parameters"] = {"mode": "sync"}
        data["backend"] = {"options": {"cap": cap}, "guest": {}}
    return data, {"run_id": data["run_id"], "index": i, "status": "passed",
                  "memory_mib": memory, "weight": 100, "quota_mib": quota,
                  "work_pages_per_sec": rate, "backend_refusals": 0,
                  "backend_stored_bytes_max": 0}


def group(label, technique, memory, rates, quota=None, cap=192 << 20):
    members = [member(label, i, technique, memory, r, quota, cap) for i, r in enumerate(rates)]
    data = {"run_id": f"{label}-i1", "label": label, "iteration": 1, "kind": "group",
            "status": "passed", "failure": None, "kernel": members[0][0]["kernel"],
            "workload": members[0][0]["workload"],
            "guest": {"memory_mib": memory, "memory_mib_total": memory * len(rates)},
            "group": {"guests": len(rates), "members": [m for _, m in members],
                      "host": {"backend_cap_bytes": cap if technique == "tmem" else None}},
            "result": {"work_pages_per_sec": sum(rates), "corrupted_pages": 0,
                       "makespan_s": 10.0}}
    return [d for d, _ in members] + [data]


def alone(label, technique, memory, rate):
    data, _ = member(label, 0, technique, memory, rate)
    del data["group_member"]
    data.update(run_id=f"{label}-i1", label=label)
    return [data]


def write(tmp_path, records):
    (tmp_path / "runs").mkdir()
    for r in records:
        (tmp_path / "runs" / f"{r['run_id']}.json").write_text(json.dumps(r))
    return tmp_path


def test_policies_budgets_and_headline(tmp_path):
    path = write(tmp_path, group("static+phased", "disk", 192, [1000, 1000, 1000])
                 + group("shared+phased", "tmem", 128, [1500, 1500, 1500])
                 + group("caps+phased", "tmem", 128, [900, 900, 900], quota=64)
                 + alone("alone+phased", "tmem", 128, 2000))
    _results, policies, baselines = overcommit.load(path)
    names = {p.label: p.name for p in policies}
    assert names == {"static": "static", "shared": "tmem shared", "caps": "tmem caps"}
    budgets = {p.label: p.budget_mib for p in policies}
    assert budgets == {"static": 576, "shared": 576, "caps": 576}
    (line,) = overcommit.headline(policies, baselines)
    assert line["ratio"] == 1.5 and line["same_budget"]
    assert line["fairness"] == pytest.approx(1.0)
    assert line["fairness_basis"] == "relative to alone"   # tmem alone matched by shape
    assert line["verdict"].startswith("meets")
    shared = next(p for p in policies if p.label == "shared")
    assert [r["slowdown"] for r in overcommit.guest_rows(shared, baselines)] == \
        pytest.approx([2000 / 1500] * 3)


def test_no_headline_between_different_budgets(tmp_path):
    path = write(tmp_path, group("static+phased", "disk", 256, [1000, 1000, 1000])
                 + group("shared+phased", "tmem", 128, [1500, 1500, 1500]))
    _results, policies, baselines = overcommit.load(path)
    (line,) = overcommit.headline(policies, baselines)
    assert not line["same_budget"] and line["verdict"].startswith("not compared")
    assert line["fairness_basis"] == "raw rates"


def test_report_files(tmp_path):
    path = write(tmp_path, group("static+together", "disk", 192, [800, 1200, 1000])
                 + group("shared+together", "tmem", 128, [700, 700, 700]))
    report = overcommit.write(path, tmp_path / "out")
    text = report.read_text()
    assert "misses the target" in text and "0.70×" in text
    data = json.loads((tmp_path / "out" / "overcommit.json").read_text())
    assert {p["policy"] for p in data["policies"]} == {"static", "tmem shared"}
    assert overcommit.headline_lines(report)[0].startswith("together:")


def test_a_folder_without_groups_is_one_line(tmp_path):
    path = write(tmp_path, alone("a+w", "disk", 128, 100))
    with pytest.raises(overcommit.UsageError, match="no group runs"):
        overcommit.load(path)
