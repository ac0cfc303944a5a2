"""The runner's backend gets the default bounds (issue 14): the host cap in its argv and
run record, and each guest a page quota of its swap size unless the experiment sets one."""

from harness.run.backend import HostBackend
from host_backend import cli, options


def test_default_cap_reaches_the_backend_argv_and_the_options_record(tmp_path):
    backend = HostBackend({"compression": "lz4"}, tmp_path)
    assert backend.options == {"compression": "lz4", "cap": options.default_cap()}
    argv = backend.argv()
    assert argv[argv.index("--cap") + 1] == str(options.default_cap())
    parsed = cli.build_parser().parse_args(argv[3:])
    assert cli.config_from_args(parsed).cap_bytes == options.default_cap()


def test_explicit_cap_wins_and_zero_is_passed_on(tmp_path):
    assert HostBackend({"cap": "1G"}, tmp_path).options["cap"] == 1 << 30
    argv = HostBackend({"cap": 0}, tmp_path).argv()
    assert argv[argv.index("--cap") + 1] == "0"


def test_guest_quota_is_its_swap_size_unless_the_experiment_gives_one(tmp_path):
    backend = HostBackend({}, tmp_path)
    assert backend.quota_pages(1024) == 262144
    assert backend.quota_pages(0) is None  # no swap disk (zram): the host cap still holds
    assert HostBackend({"max_pages": 5000}, tmp_path).quota_pages(1024) == 5000
    assert HostBackend({"max_pages": 0}, tmp_path).quota_pages(1024) == 0


def test_durable_sync_reaches_the_backend_argv(tmp_path):
    argv = HostBackend({"durable": True, "durable_sync": True}, tmp_path).argv()
    assert argv[argv.index("--durable") + 1:argv.index("--durable") + 3] == \
        [str(tmp_path / "durable"), "--durable-sync"]
    assert "--durable-sync" not in HostBackend({"durable": True}, tmp_path).argv()
