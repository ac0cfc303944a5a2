"""tmem-relay: reply-stream framing (--parse) and the udev-less port lookup (--find-port).

The pump itself needs /dev/tmem (a tmem kernel) and a virtio-serial port; it is covered by
the tmem end-to-end run. Frames here come from the backend's own codec, so the relay and
host_backend agree on the byte layout.
"""

import subprocess

import pytest

from host_backend import protocol as p


def parse(tools, data: bytes) -> list[str]:
    proc = subprocess.run([str(tools / "tmem-relay"), "--parse"], input=data,
                          capture_output=True, check=True, timeout=10)
    return proc.stdout.decode().splitlines()


def reply(op: int, request_id: int, status: int = 0, payload: bytes = b"") -> bytes:
    return p.encode(op, request_id=request_id, payload=payload, status=status,
                    flags=p.FLAG_REPLY)


def test_whole_frames_of_each_kind(tools):
    hello = p.HELLO_REPLY.pack(1, 1, p.MAX_BATCH, p.MAX_PAYLOAD, 12345)
    stream = (reply(p.Op.HELLO, 2 << 62 | 0xFFFFFFFF, payload=hello)
              + reply(p.Op.GET, 7 << 8 | 3, payload=bytes(range(256)) * 16)
              + reply(p.Op.PUT, 8 << 8 | 4, status=p.Status.NO_SPACE)
              + reply(p.Op.FLUSH_PAGE, 1 << 62 | 9, status=p.Status.NOT_FOUND))
    assert parse(tools, stream) == [
        f"op=1 status=0 length=20 id={2 << 62 | 0xFFFFFFFF}",
        f"op=5 status=0 length=4096 id={7 << 8 | 3}",
        f"op=4 status=2 length=0 id={8 << 8 | 4}",
        f"op=6 status=1 length=0 id={1 << 62 | 9}",
    ]


@pytest.mark.parametrize("cut", [1, 4, 55, 56, 57, 56 + 4095])
def test_a_frame_cut_short_is_held_back(tools, cut):
    first = reply(p.Op.PUT, 1)
    get = reply(p.Op.GET, 2, payload=b"x" * 4096)
    assert parse(tools, first + get[:cut]) == ["op=4 status=0 length=0 id=1", f"partial {cut}"]


def test_bad_magic_is_reported_with_the_next_header(tools):
    good = reply(p.Op.PUT, 1)
    stream = good + b"junk!!" + good
    assert parse(tools, stream) == ["op=4 status=0 length=0 id=1",
                                    f"bad at {len(good)} resync {len(good) + 6}"]


def test_a_frame_too_large_to_buffer_is_out_of_step(tools):
    big = p.HEADER.pack(p.MAGIC, 1, p.Op.STATS, p.FLAG_REPLY, 5, 0, 0, 0, 0, 0,
                        1 << 20, 0)
    # no magic after it: all but the last 3 bytes (a magic may straddle the next read) go
    assert parse(tools, big) == ["bad at 0 resync 53"]


def test_find_port_scans_sysfs_names(run_tool, tmp_path):
    for dev, name in [("vport0p1", "org.qemu.guest_agent.0\n"),
                      ("vport1p1", "org.tmemlab.tmem.0\n"), ("vport1p2", "")]:
        (tmp_path / dev).mkdir()
        (tmp_path / dev / "name").write_text(name)
    run = run_tool("tmem-relay", "--find-port", "--sysfs", str(tmp_path))
    assert (run.rc, run.stdout) == (0, "/dev/vport1p1\n")

    run = run_tool("tmem-relay", "--find-port", "--sysfs", str(tmp_path),
                   "--port-name", "org.tmemlab.tmem.1")
    assert (run.rc, run.stdout) == (1, "")


def test_find_port_without_sysfs_dir(run_tool, tmp_path):
    assert run_tool("tmem-relay", "--find-port", "--sysfs", str(tmp_path / "absent")).rc == 1


@pytest.mark.parametrize("args", [["--retry-ms", "0"], ["--bogus"], ["extra"]])
def test_bad_arguments(run_tool, args):
    run = run_tool("tmem-relay", *args)
    assert run.rc == 2
    assert "usage" in run.stderr or "retry-ms" in run.stderr
