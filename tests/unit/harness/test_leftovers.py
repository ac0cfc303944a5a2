"""What counts as a dead run's leftover (issue 14): owner records, reused pids, mounts,
the reaper's registrations. Pure logic on temporary folders; no process is killed."""

import json
import os
import time

import pytest

from harness.vm import leftovers, reaper


def owner(folder, pid, ident):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / leftovers.OWNER).write_text(json.dumps({"pid": pid, "id": ident}))
    return folder


def age(folder, seconds):
    past = time.time() - seconds
    os.utime(folder, (past, past))


def test_identity_is_boot_and_start_time():
    ident = leftovers.identity(os.getpid())
    boot, ticks = ident.rsplit(":", 1)
    assert ticks.isdigit() and boot == leftovers._boot_id()
    assert leftovers.identity(2 ** 22 + 1) is None  # above pid_max: no such process


def test_owner_record_of_this_process_is_alive(tmp_path):
    leftovers.record_process(tmp_path / leftovers.OWNER, os.getpid(), "harness")
    assert leftovers.scratch_owner_alive(tmp_path)


def test_a_reused_pid_is_not_the_owner(tmp_path):
    # Our pid, but another process's start time: the owner died and the pid came back.
    owner(tmp_path / "f", os.getpid(), leftovers.identity(os.getpid()) + "0")
    assert not leftovers.scratch_owner_alive(tmp_path / "f")


def test_owner_of_another_boot_is_dead(tmp_path):
    ticks = leftovers.start_ticks(os.getpid())
    owner(tmp_path / "f", os.getpid(), f"another-boot:{ticks}")
    assert not leftovers.scratch_owner_alive(tmp_path / "f")


def test_young_ownerless_folder_may_be_a_live_harness_s(tmp_path):
    (tmp_path / "999999999").mkdir()
    assert leftovers.scratch_owner_alive(tmp_path / "999999999")


def test_old_ownerless_folder_named_after_a_dead_pid_is_dead(tmp_path):
    folder = tmp_path / "999999999"
    folder.mkdir()
    age(folder, 3600)
    assert not leftovers.scratch_owner_alive(folder)


def test_old_ownerless_folder_named_after_a_pid_started_later_is_dead(tmp_path):
    # The pid runs, but it started after the folder last changed: it cannot be the owner.
    folder = tmp_path / str(os.getpid())
    folder.mkdir()
    age(folder, 10 ** 7)
    assert not leftovers.scratch_owner_alive(folder)


def test_ownerless_folder_named_after_a_running_older_pid_is_kept(tmp_path):
    folder = tmp_path / "1"
    folder.mkdir()
    started = leftovers.started_at(1)
    changed = (started + time.time()) / 2  # after pid 1 started, before now
    if time.time() - changed < 2 * leftovers.GRACE_S:
        pytest.skip("pid 1 started too recently")
    os.utime(folder, (changed, changed))
    assert leftovers.scratch_owner_alive(folder)


def test_reclaim_scratch_removes_dead_and_keeps_live(tmp_path):
    dead = owner(tmp_path / "111", 999999999, "x:1")
    (dead / "r1").mkdir()
    (dead / "r1" / "swap.raw").write_bytes(b"\0" * 8192)
    live = tmp_path / "222"
    live.mkdir()
    leftovers.record_process(live / leftovers.OWNER, os.getpid(), "harness")
    # A record of a process of the dead run that is gone already: nothing to kill.
    (dead / "backend").mkdir()
    (dead / "backend" / f"backend{leftovers.PID_SUFFIX}").write_text(
        json.dumps({"pid": 999999998, "id": "x:2", "what": "tmem backend"}))
    done = leftovers.reclaim_scratch(tmp_path)
    assert not dead.exists() and live.exists()
    assert [line for line in done if "removed scratch" in line and "111" in line]
    assert not [line for line in done if "killed" in line]


def test_reclaim_never_kills_a_recorded_pid_with_another_identity(tmp_path, monkeypatch):
    dead = owner(tmp_path / "111", 999999999, "x:1")
    (dead / f"b{leftovers.PID_SUFFIX}").write_text(
        json.dumps({"pid": os.getpid(), "id": "x:1", "what": "tmem backend"}))
    killed = []
    monkeypatch.setattr(leftovers, "_kill_and_wait", lambda pids, timeout=5: killed.extend(pids))
    leftovers.reclaim_scratch(tmp_path)
    assert killed == [] and not dead.exists()


def test_mountinfo_unescapes_paths():
    text = ("36 35 0:31 / /tmp/a\\040b rw,relatime shared:1 - tmpfs none rw\n"
            "37 35 0:32 / /proc rw - proc proc rw\n")
    assert leftovers.parse_mountinfo(text) == ["/tmp/a b", "/proc"]


def test_mounts_under_deepest_first(monkeypatch, tmp_path):
    tree = tmp_path / "tree"
    lines = [f"1 1 0:1 / {p} rw - x x rw" for p in
             (f"{tree}/proc", f"{tree}/dev/pts", f"{tree}2/sys", f"{tree}/dev", "/proc")]
    monkeypatch.setattr(leftovers, "parse_mountinfo",
                        lambda _text: [ln.split()[4] for ln in lines])
    assert leftovers.mounts_under(tree) == [f"{tree}/dev/pts", f"{tree}/proc", f"{tree}/dev"]


def test_remove_tree_refuses_while_a_mount_stays(monkeypatch, tmp_path):
    tree = tmp_path / "tree"
    (tree / "dev" / "shm").mkdir(parents=True)
    (tree / "dev" / "shm" / "host-file").write_text("not ours")
    monkeypatch.setattr(leftovers, "mounts_under", lambda _p: [str(tree / "dev" / "shm")])
    monkeypatch.setattr(leftovers.proc, "run", lambda *a, **k: None)  # umount "fails"
    assert not leftovers.remove_tree(tree)
    assert (tree / "dev" / "shm" / "host-file").exists()


def test_reaper_registrations():
    reg = reaper.parse(["+10\n", "+11 555\n", "+12\n", "-12\n", "+dir /s/1\n",
                        "+dir /s/2\n", "-dir /s/1\n", "+root /r/1\n", "+root /r/2\n",
                        "-root /r/2\n", "junk\n"])
    assert reg.pids == {10: None, 11: "555"} and reg.dirs == ["/s/2"]
    assert reg.roots == ["/r/1"]
    assert not reg.clean_exit
    assert reaper.parse([reaper.EXIT + "\n"]).clean_exit


def test_reaper_kills_a_process_only_with_the_same_start_time():
    me = os.getpid()
    assert reaper._still_ours(me, reaper._ticks(me))
    assert not reaper._still_ours(me, "1")
    assert not reaper._still_ours(me, None)  # not QEMU
