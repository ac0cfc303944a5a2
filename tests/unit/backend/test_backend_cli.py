"""CLI parsing: bad input is one line on stderr and exit status 2, never a traceback."""

import pytest

from host_backend import cli


@pytest.mark.parametrize("argv", [
    [],
    ["bogus"],
    ["serve"],  # nothing to listen on
    ["serve", "--guest", "noequals"],
    ["serve", "--guest", "a=/tmp/a.sock,max_pages=x"],
    ["serve", "--guest", "a=/tmp/a.sock,colour=red"],
    ["serve", "--guests", "a,b"],  # needs --socket-dir
    ["serve", "--control", "/tmp/c", "--compression", "lzma"],
    ["serve", "--control", "/tmp/c", "--cap", "lots"],
    ["serve", "--control", "/tmp/c", "--cap", "5x"],  # the experiment's size rule
    ["serve", "--control", "/tmp/c", "--max-pages", "-1"],
    ["serve", "--control", "/tmp/c", "--weight", "-3"],
    ["stats"],
])
def test_bad_usage_is_one_line_and_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tmemlab backend: ") and err.count("\n") == 1


def test_unreachable_control_socket_is_exit_1(tmp_path, capsys):
    assert cli.main(["stats", "--control", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("text,value", [("4096", 4096), ("512M", 512 << 20), ("2G", 2 << 30),
                                        ("1KiB", 1024), ("3k", 3072),
                                        ("512MiB", 512 << 20)])
def test_parse_size(text, value):
    assert cli.parse_size(text) == value


def test_config_from_args_builds_guest_specs(tmp_path):
    args = cli.build_parser().parse_args([
        "serve", "--guest", "a=/s/a.sock,max_pages=10,max_bytes=1M,weight=5",
        "--socket-dir", str(tmp_path), "--guests", "b,c", "--max-pages", "7",
        "--compression", "zstd", "--cap", "1G", "--dedup", "--durable", str(tmp_path / "d")])
    cfg = cli.config_from_args(args)
    assert cfg.compression == "zstd" and cfg.cap_bytes == 1 << 30 and cfg.dedup
    assert cfg.durable_dir == str(tmp_path / "d")
    a, b, c = cfg.guests
    assert (a.name, a.path, a.max_pages, a.max_bytes, a.weight) == ("a", "/s/a.sock", 10,
                                                                   1 << 20, 5)
    assert (b.name, b.path, b.max_pages) == ("b", str(tmp_path / "b.sock"), 7)
    assert c.name == "c"
