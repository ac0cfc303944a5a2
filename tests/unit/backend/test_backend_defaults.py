"""Default bounds (issue 14): with no cap given, the backend caps all stored pages at a
share of host RAM; explicit values win, and 0 still means "refuse everything"."""

import pytest

from host_backend import cli, options

MEMINFO = "MemTotal:       24684092 kB\nMemFree:         1000000 kB\n"


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_host_ram_is_memtotal_or_a_lower_cgroup_limit(tmp_path):
    meminfo = write(tmp_path, "meminfo", MEMINFO)
    assert options.parse_memtotal(MEMINFO) == 24684092 * 1024
    assert options.host_ram_bytes(meminfo, str(tmp_path / "absent")) == 24684092 * 1024
    assert options.host_ram_bytes(meminfo, write(tmp_path, "max", "max\n")) == 24684092 * 1024
    assert options.host_ram_bytes(meminfo, write(tmp_path, "lim", "2147483648\n")) == 2 << 30
    with pytest.raises(ValueError):
        options.parse_memtotal("MemFree: 1 kB\n")


def test_default_cap_is_a_fifth_of_host_ram():
    assert options.DEFAULT_CAP_PERCENT == 20
    assert options.default_cap(10 << 30) == 2 << 30
    assert 0 < options.default_cap() < options.host_ram_bytes()


def test_default_quota_is_one_page_per_swap_slot():
    assert options.swap_quota_pages(1024) == 262144
    assert options.swap_quota_pages(1) == 256
    assert options.swap_quota_pages(0) is None and options.swap_quota_pages(None) is None


def test_with_defaults_fills_only_the_cap_the_user_left_out():
    assert options.with_defaults({}, ram_bytes=10 << 30) == {"cap": 2 << 30}
    assert options.with_defaults({"cap": "1G"}, ram_bytes=10 << 30) == {"cap": 1 << 30}
    assert options.with_defaults({"cap": 0}, ram_bytes=10 << 30) == {"cap": 0}
    assert options.with_defaults({"max_pages": 0}, ram_bytes=10 << 30) == \
        {"max_pages": 0, "cap": 2 << 30}
    with pytest.raises(options.OptionsError):
        options.with_defaults({"cap": "lots"})


def test_serve_without_cap_gets_the_default_and_an_explicit_cap_wins():
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--control", "/tmp/x.ctl"])
    assert cli.config_from_args(args).cap_bytes == options.default_cap()
    args = parser.parse_args(["serve", "--control", "/tmp/x.ctl", "--cap", "64M"])
    assert cli.config_from_args(args).cap_bytes == 64 << 20
    args = parser.parse_args(["serve", "--control", "/tmp/x.ctl", "--cap", "0"])
    assert cli.config_from_args(args).cap_bytes == 0


def test_help_says_what_the_defaults_and_durable_promise(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "20% of host RAM" in text
    assert "survives kill -9" in text and "not a host crash or power loss" in text


def test_human_sizes():
    assert options.human(100) == "100 B"
    assert options.human(4718592) == "4.5 MiB"
    assert options.human(5055302041) == "4.7 GiB"


def test_durable_sync_needs_durable_everywhere(capsys):
    assert options.check({"durable": True, "durable_sync": True}).durable_sync
    with pytest.raises(options.OptionsError) as info:
        options.check({"durable_sync": True})
    assert "durable_sync: needs durable: true" in info.value.reason
    assert cli.main(["serve", "--control", "/tmp/x.ctl", "--durable-sync"]) == 2
    assert capsys.readouterr().err == "tmemlab backend: --durable-sync needs --durable DIR\n"
    args = cli.build_parser().parse_args(["serve", "--control", "/tmp/x.ctl", "--durable",
                                          "/tmp/db", "--durable-sync"])
    assert cli.config_from_args(args).durable_sync
