"""The runner's kernel-log verdict: console + dmesg, saved, recorded, and the reason."""

from pathlib import Path
from types import SimpleNamespace

from harness.results.results import ResultsDir
from harness.run import runner

DATA = Path(__file__).resolve().parents[2] / "data" / "kernel-log"


class FakeGuest:
    def __init__(self, dmesg=None, error=None):
        self._dmesg, self._error = dmesg, error

    def alive(self):
        return True

    def dmesg(self, timeout):
        if self._error:
            raise self._error
        return self._dmesg


def ctx_for(tmp_path, console_text, guest, accel="tcg"):
    log = tmp_path / "console.log"
    log.write_text(console_text)
    return SimpleNamespace(console_log=log, guest=guest, _domain_alive=lambda: True,
                           prep=SimpleNamespace(accel=accel),
                           run_id="k+pressure-i1")


def judge(tmp_path, console_text, guest, record=None, accel="tcg"):
    results = ResultsDir(tmp_path / "results", "exp")
    record = record or {"status": "passed", "failure": None}
    runner.judge_kernel_log(ctx_for(tmp_path, console_text, guest, accel), record, results)
    return record, results


def test_bug_on_console_fails_a_passed_run(tmp_path):
    record, results = judge(tmp_path, (DATA / "zswap-bug-console.log").read_text(),
                            FakeGuest(dmesg="[    0.1] Linux version 6.1\n"))
    assert record["status"] == "failed"
    assert record["failure"]["reason"] == \
        "kernel failure on console: kernel BUG at mm/zswap.c:1234!"
    assert (results.path / "console" / "k+pressure-i1.dmesg").read_text().startswith(
        "[    0.1] Linux")
    assert record["kernel_log"]["sources"] == ["console", "dmesg"]


def test_warning_only_in_dmesg_is_recorded_and_the_run_passes(tmp_path):
    record, _ = judge(tmp_path, "[ 1.0] boot\n",
                      FakeGuest(dmesg=(DATA / "lkdtm-warning-dmesg.log").read_text()))
    assert record["status"] == "passed" and record["failure"] is None
    assert record["kernel_log"]["warning"][0]["pattern"] == "warn"


def test_kernel_failure_comes_first_then_the_workload_failure(tmp_path):
    earlier = {"status": "failed",
               "failure": {"reason": "pressure killed by SIGBUS (data loss: a swapped page "
                                     "could not be read back)", "console_tail": ""}}
    record, _ = judge(tmp_path, "[ 5.0] Read-error on swap-device (254:16:8)\n",
                      FakeGuest(error=TimeoutError("dmesg ran past 10 s")), earlier)
    assert record["failure"]["reason"] == (
        "kernel failure on console: Read-error on swap-device (254:16:8); then pressure "
        "killed by SIGBUS (data loss: a swapped page could not be read back)")
    assert record["dmesg_error"] == "dmesg ran past 10 s"
    assert record["kernel_log"]["sources"] == ["console"]


def test_no_guest_session_judges_the_console_alone(tmp_path):
    record, _ = judge(tmp_path, "[ 0.5] Kernel panic - not syncing: VFS: Unable to mount "
                                "root fs\n", None, {"status": "failed",
                                                    "failure": {"reason": "boot timeout"}})
    assert record["failure"]["reason"].startswith(
        "kernel failure on console: Kernel panic - not syncing: VFS")


def test_summary_lists_kernel_warnings(tmp_path):
    from harness.results import summary
    record, _ = judge(tmp_path, "[ 1.0] boot\n",
                      FakeGuest(dmesg=(DATA / "lkdtm-warning-dmesg.log").read_text()))
    record.update(run_id="k+pressure-i1")
    text = summary.markdown([record, {"run_id": "old", "status": "passed"}], "t")
    assert "## Kernel warnings" in text
    assert "  - `warn: WARNING: CPU: 1 PID: 412 at " in text
    assert summary._cells(record)[-1] == "2" and summary._cells({"run_id": "old",
                                                                 "status": "x"})[-1] == "-"
