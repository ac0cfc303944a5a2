"""The command workload: validation, the guest command line, results read by the user's
rule, host files resolved against the experiment file, and compare ranking by the rule."""

import subprocess

import pytest

from harness.errors import ExperimentConfigError
from harness.experiment import experiment
from harness.report.compare.metrics import H, L, metrics_for, primary_for
from harness.run.workloads import WORKLOADS

CMD = WORKLOADS["command"]


@pytest.mark.parametrize("params, problem", [
    ({"command": "make -j2"}, None),
    ({"script": "job.sh", "files": ["a.tar:/root/a.tar"], "env": {"JOBS": 2},
      "expect_exit": 0, "result": {"regex": "score: (?P<score>[0-9.]+)", "unit": "points",
                                   "better": "higher"}}, None),
    ({"command": "x", "result": {"json": "stats.0.ops", "name": "ops", "better": "higher"}},
     None),
    ({}, "give command or script"),
    ({"command": "x", "script": "y"}, "give command or script"),
    ({"command": "x", "files": ["job.sh"]}, "files: 'job.sh': expected \"HOST:GUEST\""),
    ({"command": "x", "files": ["job.sh:rel/path"]}, "absolute GUEST path"),
    ({"command": "x", "env": {"1BAD": 1}}, "env: '1BAD'"),
    ({"command": "x", "result": {"regex": "score: ([0-9]+)", "better": "higher"}},
     "result.regex: needs a named group"),
    ({"command": "x", "result": {"regex": "(?P<s>[", "better": "higher"}},
     "result.regex: not a regular expression"),
    ({"command": "x", "result": {"regex": "(?P<s>1)", "better": "up"}},
     "result.better: expected higher or lower"),
    ({"command": "x", "result": {"json": "a.b", "better": "lower"}}, "json needs"),
    ({"command": "x", "expect_exit": 300}, "expect_exit=300"),
])
def test_validation(params, problem):
    if problem is None:
        CMD.validate(params)
    else:
        with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace("[", r"\[")):
            CMD.validate(params)


def test_command_line_exports_env_and_runs_from_root():
    line = CMD.command({"command": "echo $JOBS", "env": {"JOBS": 4, "NAME": "a b"}})
    assert line.splitlines() == ["export JOBS=4", "export NAME='a b'", "cd /root",
                                 "echo $JOBS"]
    out = subprocess.run(["sh", "-c", line.replace("cd /root", "cd /")],
                         capture_output=True, text=True)
    assert out.stdout == "4\n"
    assert CMD.command({"script": "/h/job.sh"}).endswith("sh /root/tmemlab-files/job.sh")
    assert CMD.staged({"script": "/h/job.sh", "files": ["/h/d.tar:/srv/d.tar"]}) == [
        ("/h/d.tar", "/srv/d.tar"), ("/h/job.sh", "/root/tmemlab-files/job.sh")]


def test_parse_reads_the_rule_and_judges_the_exit_status():
    rule = {"regex": r"score: (?P<score>[0-9.]+)", "unit": "points", "better": "higher"}
    result, failure = CMD.parse(0, "score: 1\nscore: 41.5\ndone\n", "", {"result": rule})
    assert failure is None and result["score"] == 41.5
    assert result["metric"] == {"name": "score", "value": 41.5, "unit": "points",
                                "better": "higher"}
    _, failure = CMD.parse(0, "no number\n", "", {"result": rule})
    assert failure.startswith("result: regex") and "found no score" in failure
    _, failure = CMD.parse(2, "out\n", "make: *** [all] Error 2\n", {})
    assert failure == "command exited 2 (expected 0): out | make: *** [all] Error 2"
    assert CMD.parse(2, "", "", {"expect_exit": 2})[1] is None
    assert CMD.parse(-9, "", "", {})[1].startswith("command killed by SIGKILL")
    rule = {"json": "stats.1.ops", "name": "ops", "better": "higher"}
    result, failure = CMD.parse(0, 'log\n{"stats": [{"ops": 1}, {"ops": 7}]}\n', "",
                                {"result": rule})
    assert failure is None and result["ops"] == 7.0


def test_files_resolve_against_the_experiment_folder(tmp_path):
    (tmp_path / "job.sh").write_text("echo score: 3\n")
    path = tmp_path / "exp.yaml"
    path.write_text("kernels: [{kernel: distro:debian-6.1}]\nworkloads:\n"
                    "  - name: command\n    params:\n      script: job.sh\n"
                    "      files: [\"job.sh:/usr/local/bin/job.sh\"]\n")
    (run,) = experiment.load(path).runs()
    assert run.workload.params["script"] == str(tmp_path / "job.sh")
    assert run.workload.params["files"] == [f"{tmp_path / 'job.sh'}:/usr/local/bin/job.sh"]
    path.write_text(path.read_text().replace("[\"job.sh:", "[\"nope.sh:"))
    with pytest.raises(ExperimentConfigError) as err:
        experiment.load(path)
    assert str(err.value) == (f"{path}:6: workloads[0].params.files[0]: nope.sh: no such "
                              f"file (looked for {tmp_path / 'nope.sh'})")


def command_run(value, better):
    return {"workload": {"name": "command"}, "status": "passed",
            "result": {"exit_status": 0, "t": value,
                       "metric": {"name": "t", "value": value, "unit": "s", "better": better}}}


@pytest.mark.parametrize("better, direction", [("higher", H), ("lower", L)])
def test_compare_ranks_by_the_rule(better, direction):
    runs = [command_run(3.0, better), command_run(4.0, better)]
    (metric,) = [m for m in metrics_for(runs) if m.name == "t"]
    assert metric.direction == direction and metric.unit == "s"
    assert [p.metric for p in primary_for("command", tuple(runs))] == ["t"]
    assert [p.metric for p in primary_for("command", ({"result": {}},))] == \
        ["workload_wall_s"]


REDIS_OUT = """throughput summary: 2841.31 requests per second
latency summary (msec):
          avg       min       p50       p95       p99       max
        0.345     0.080     0.311     0.607     1.031    12.527
"""
RULES = [{"regex": r"throughput summary: (?P<ops_per_s>[0-9.]+)", "unit": "ops/s",
          "better": "higher"},
         {"regex": r"\n\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+(?P<p95_ms>[0-9.]+)", "unit": "ms",
          "better": "lower"}]


def test_several_rules_read_several_metrics_the_first_ranks():
    CMD.validate({"command": "x", "result": RULES})
    result, failure = CMD.parse(0, REDIS_OUT, "", {"result": RULES})
    assert failure is None and result["ops_per_s"] == 2841.31 and result["p95_ms"] == 0.607
    assert result["metric"]["name"] == "ops_per_s"
    assert [m["name"] for m in result["metrics"]] == ["ops_per_s", "p95_ms"]
    runs = [{"workload": {"name": "command"}, "status": "passed", "result": result}] * 2
    found = {m.name: m for m in metrics_for(runs)}
    assert found["ops_per_s"].direction == H and found["p95_ms"].direction == L
    assert found["p95_ms"].unit == "ms"
    assert [p.metric for p in primary_for("command", tuple(runs))] == ["ops_per_s"]
    _, failure = CMD.parse(0, REDIS_OUT.splitlines()[0], "", {"result": RULES})
    assert "found no p95_ms" in failure


@pytest.mark.parametrize("rules, reason", [
    ([], "non-empty list of rules"),
    ([RULES[0], RULES[0]], "metric 'ops_per_s' named twice"),
    ([RULES[0], {"regex": "(?P<x>1)", "better": "up"}], "result.better"),
])
def test_rule_lists_are_checked(rules, reason):
    with pytest.raises(ValueError, match=reason):
        CMD.validate({"command": "x", "result": rules})
