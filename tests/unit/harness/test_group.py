"""Group runs as data: the arm's group resolved from the file, members checked, and the
group record (aggregate throughput, Jain's index, one clock for every guest's series)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.errors import ExperimentConfigError
from harness.experiment import experiment
from harness.results.group_aggregate import group_record, jain, merged_series

GROUP = """
name: g
guest: {memory_mib: 128}
group: {guests: 3, stagger_s: 30}
kernels:
  - {name: static, kernel: "distro:debian-6.1", memory_mib: 192}
  - name: caps
    kernel: "config:tmem"
    group:
      members: [{quota_mib: 64, params: {seed: 1}}, {quota_mib: 64, weight: 200},
                {quota_mib: 32, start_delay_s: 5}]
  - {name: alone, kernel: "config:tmem", group: {guests: 1}}
workloads:
  - {name: pressure, label: phased, params: {size: 256M, passes: 1}}
  - {name: pressure, label: together, stagger_s: 0, params: {size: 256M, passes: 1}}
"""


def load(tmp_path: Path, text: str) -> experiment.Experiment:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return experiment.load(path)


def test_each_arm_runs_as_its_group(tmp_path):
    runs = {r.run_id: r for r in load(tmp_path, GROUP).runs()}
    static = runs["static+phased-i1"]
    assert static.kernel.memory_mib == 192
    assert [m.start_delay_s for m in static.group.members] == [0, 30, 60]
    assert [m.start_delay_s for m in runs["static+together-i1"].group.members] == [0, 0, 0]
    caps = runs["caps+phased-i1"].group.members
    assert [(m.quota_mib, m.weight) for m in caps] == [(64, 100), (64, 200), (32, 100)]
    assert caps[2].start_delay_s == 65            # its own delay after the stagger
    assert caps[0].params == {"size": "256M", "passes": 1, "seed": 1}
    assert caps[1].params == {"size": "256M", "passes": 1}
    assert runs["alone+phased-i1"].group is None  # one guest: an ordinary run


def test_a_column_may_run_only_some_workloads(tmp_path):
    text = GROUP.replace("group: {guests: 1}}", "group: {guests: 1}, workloads: [phased]}")
    ids = [r.run_id for r in load(tmp_path, text).runs()]
    assert "alone+phased-i1" in ids and "alone+together-i1" not in ids
    assert "static+together-i1" in ids
    with pytest.raises(ExperimentConfigError, match="no workload labelled 'later'") as exc:
        load(tmp_path, text.replace("workloads: [phased]", "workloads: [later]"))
    assert exc.value.field == "kernels[2].workloads[0]" and exc.value.line == 12


def test_a_member_may_run_its_own_workload(tmp_path):
    text = GROUP.replace("{quota_mib: 32, start_delay_s: 5}",
                         "{workload: tmem-pools, params: {probe: 64}}")
    caps = {r.run_id: r for r in load(tmp_path, text).runs()}["caps+phased-i1"].group.members
    assert caps[2].workload == "tmem-pools" and caps[2].params == {"probe": 64}
    assert caps[1].workload is None and caps[1].params["size"] == "256M"
    bad = text.replace("probe: 64", "probe: 0")
    with pytest.raises(ExperimentConfigError, match="probe"):
        load(tmp_path, bad)


@pytest.mark.parametrize("change, field, line, reason", [
    (("{quota_mib: 32, start_delay_s: 5}]", "]"), "kernels[1].group.members", 10,
     "2 members for 3 guests"),
    (("weight: 200}", "weight: 200, params: {colour: red}}"),
     "kernels[1].group.members[1].params", 10, "unknown parameter 'colour'"),
    (("stagger_s: 30}", "stagger_s: -1}"), "group.stagger_s", 4, "expected seconds"),
    (("guests: 3,", "guests: 0,"), "group.guests", 4, "out of range"),
])
def test_bad_groups_name_the_field_and_line(tmp_path, change, field, line, reason):
    with pytest.raises(ExperimentConfigError) as exc:
        load(tmp_path, GROUP.replace(*change))
    assert exc.value.field == field and exc.value.line == line, str(exc.value)
    assert reason in str(exc.value)


def test_jain_index():
    assert jain([5, 5, 5]) == pytest.approx(1.0)
    assert jain([9, 0, 0]) == pytest.approx(1 / 3)
    assert jain([1, 2]) == pytest.approx(9 / 10)
    assert jain([]) is None and jain([0, 0]) is None


def test_merged_series_puts_every_guest_on_one_clock():
    g0 = [{"wall": 100.2, "backend_stored_bytes": 10, "qemu_rss_bytes": 100,
           "backend_rss_bytes": 50},
          {"wall": 102.1, "backend_stored_bytes": 30, "qemu_rss_bytes": 110,
           "backend_rss_bytes": 70}]
    g1 = [{"wall": 101.5, "backend_stored_bytes": 5, "qemu_rss_bytes": 200}]
    rows = merged_series([g0, g1], start_wall=100.0)
    assert [r["t"] for r in rows] == [0, 1, 2, 3]
    assert "g0_backend_stored_bytes" not in rows[0]           # not sampled yet
    assert rows[1]["g0_backend_stored_bytes"] == 10 and "g1_qemu_rss_bytes" not in rows[1]
    assert rows[2]["pool_stored_bytes"] == 15
    assert rows[2]["host_rss_bytes"] == 100 + 200 + 50
    assert rows[3]["pool_stored_bytes"] == 35 and rows[3]["host_rss_bytes"] == 110 + 200 + 70


def _member(i, rate, corrupted=0, status="passed"):
    ctx = SimpleNamespace(member=experiment.Member(i, None, 100 * (i + 1), 64, 10.0 * i, {}),
                          run=SimpleNamespace(run_id="a+w-i1", label="a+w", iteration=1,
                                              workload=SimpleNamespace(params={"size": "1M"})))
    record = {"run_id": f"a+w.g{i}-i1", "status": status, "failure": None,
              "kernel": {"label": "a"}, "workload": {"name": "pressure", "params": {}},
              "guest": {"memory_mib": 128}, "workload_started_wall": 1000.0 + 10 * i,
              "workload_wall_s": 50.0,
              "result": {"pages_per_sec": rate, "corrupted_pages": corrupted, "pages": 100,
                         "passes": [{"pages": 50}], "fill_elapsed_s": 1.0 * (i + 1),
                         "elapsed_s": 1.0, "final_verify_elapsed_s": 0.5},
              "deltas": {"pswpout": 10 * (i + 1), "backend_cpu_s": 5.0 + i},
              "backend": {"options": {"cap": 1 << 20},
                          "guest": {"max_pages": 16384, "rejects": {"quota": i}}},
              "series_rows": [{"wall": 1001.0 + i, "backend_stored_bytes": 4096 * (i + 1),
                               "backend_rss_bytes": 1 << 20, "qemu_rss_bytes": 1 << 27}]}
    return ctx, record


def test_group_record_aggregates_its_members():
    members = [_member(0, 1000.0), _member(1, 3000.0)]
    record, series = group_record([c for c, _ in members], [r for _, r in members], 999.0)
    assert record["kind"] == "group" and record["status"] == "passed"
    assert record["run_id"] == "a+w-i1" and record["label"] == "a+w"
    assert record["result"]["pages_per_sec"] == 4000.0
    assert record["result"]["jain_fairness_index"] == pytest.approx(0.8)
    assert record["result"]["corrupted_pages"] == 0
    # (100 + 50 + 100) pages in 2.5 s and in 3.5 s
    assert record["result"]["work_pages_per_sec"] == pytest.approx(100 + 71.4, abs=0.1)
    assert record["result"]["makespan_s"] == 60.0       # 1000 → 1060
    assert record["deltas"]["pswpout"] == 30
    assert record["deltas"]["backend_cpu_s"] == 6.0   # one process, sampled by each guest
    assert [m["backend_refusals"] for m in record["group"]["members"]] == [0, 1]
    assert record["group"]["host"]["pool_stored_bytes_max"] == 4096 * 3
    assert record["group"]["host"]["backend_cap_bytes"] == 1 << 20
    assert series[-1]["host_rss_bytes"] == 2 * (1 << 27) + (1 << 20)


def test_a_failed_member_fails_the_group_and_leaves_no_aggregate():
    members = [_member(0, 1000.0), _member(1, None, corrupted=None, status="failed")]
    members[1][1]["failure"] = {"reason": "boom"}
    record, _ = group_record([c for c, _ in members], [r for _, r in members], 999.0)
    assert record["status"] == "failed" and record["failure"] == {"reason": "boom"}
    assert record["result"]["pages_per_sec"] is None
    assert record["result"]["jain_fairness_index"] is None
    assert record["result"]["corrupted_pages"] is None


def test_after_previous_starts_each_guest_its_stagger_after_the_previous_ended(tmp_path):
    text = GROUP.replace("label: phased,", "label: phased, after_previous: true,")
    runs = {r.run_id: r for r in load(tmp_path, text).runs()}
    static = runs["static+phased-i1"].group.members
    assert [(m.after_previous, m.start_delay_s) for m in static] == \
        [(False, 0), (True, 30), (True, 30)]           # the gap after the previous one
    caps = runs["caps+phased-i1"].group.members
    assert [m.start_delay_s for m in caps] == [0, 30, 35]   # its own delay added
    together = runs["static+together-i1"].group.members
    assert not any(m.after_previous for m in together)      # only where it is asked for
    grouped = load(tmp_path, GROUP.replace("stagger_s: 30}", "stagger_s: 0, "
                                           "after_previous: true}"))
    assert [m.after_previous for m in grouped.runs()[0].group.members] == [False, True, True]
