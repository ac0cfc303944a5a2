"""tmemlab-sample: record format, directories, errors and shutdown."""

import signal
import subprocess
import time

import pytest


def parse_records(text: str) -> list[dict]:
    """[{"mono": float, "real": float, "files": {path: content-or-("!!!", err)}}]"""
    records, cur, path = [], None, None
    for line in text.splitlines(keepends=True):
        if line.startswith("=== end"):
            records.append(cur)
            cur = path = None
        elif line.startswith("=== "):
            mono, real = line.split()[1:]
            cur = {"mono": float(mono), "real": float(real), "files": {}}
        elif line.startswith("--- "):
            path = line[4:].rstrip("\n")
            cur["files"][path] = ""
        elif line.startswith("!!! "):
            cur["files"][path] = ("!!!", line[4:].rstrip("\n"))
        else:
            cur["files"][path] += line
    assert cur is None, "unterminated record"
    return records


def test_two_records_of_files_and_a_directory(run_tool, tmp_path):
    d = tmp_path / "zswap"
    d.mkdir()
    (d / "stored_pages").write_text("42\n")
    (d / "a_no_newline").write_text("7")
    (d / "subdir").mkdir()
    missing = tmp_path / "missing"

    run = run_tool(
        "tmemlab-sample",
        "--interval-ms",
        "100",
        "--count",
        "2",
        "/proc/meminfo",
        str(d),
        str(missing),
    )
    assert run.rc == 0, run.stderr
    recs = parse_records(run.stdout)
    assert len(recs) == 2
    for rec in recs:
        assert list(rec["files"]) == [
            "/proc/meminfo",
            f"{d}/a_no_newline",
            f"{d}/stored_pages",
            str(missing),
        ]
        assert rec["files"]["/proc/meminfo"].startswith("MemTotal:")
        assert rec["files"][f"{d}/stored_pages"] == "42\n"
        assert rec["files"][f"{d}/a_no_newline"] == "7\n"
        assert rec["files"][str(missing)] == ("!!!", "No such file or directory")
    assert 0.09 <= recs[1]["mono"] - recs[0]["mono"] < 1.0
    assert abs((recs[1]["real"] - recs[0]["real"]) - (recs[1]["mono"] - recs[0]["mono"])) < 0.05


def test_rereads_changing_files(tools, tmp_path):
    f = tmp_path / "counter"
    f.write_text("1\n")
    proc = subprocess.Popen(
        [str(tools / "tmemlab-sample"), "--interval-ms", "300", "--count", "2", str(f)],
        stdout=subprocess.PIPE,
        text=True,
    )
    first = "".join(iter(proc.stdout.readline, "=== end\n")) + "=== end\n"
    with open(f, "r+") as fh:  # rewrite in place: the sampler keeps its fd open
        fh.write("2\n")
    rest, _ = proc.communicate(timeout=10)
    assert [r["files"][str(f)] for r in parse_records(first + rest)] == ["1\n", "2\n"]


def test_sigterm_exits_cleanly(tools):
    proc = subprocess.Popen(
        [str(tools / "tmemlab-sample"), "--interval-ms", "50", "/proc/loadavg"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert len(parse_records(out)) >= 2


def test_closed_stdout_exits_cleanly(tools):
    proc = subprocess.Popen(
        [str(tools / "tmemlab-sample"), "--interval-ms", "20", "/proc/loadavg"],
        stdout=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--interval-ms", "0", "/proc/loadavg"],
        ["--count", "x", "/proc/loadavg"],
        ["--bogus", "/proc/loadavg"],
        ["--interval-ms"],
    ],
)
def test_bad_arguments_exit_2(run_tool, args):
    run = run_tool("tmemlab-sample", *args)
    assert run.rc == 2 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1
