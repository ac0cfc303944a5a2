"""The runner's backend options go through host_backend/options.py, as the experiment
file and `tmemlab backend serve` do: one rule, one normal form (sizes in bytes)."""

import pytest

from harness.run.backend import HostBackend, validate
from host_backend import cli, options


def test_runner_passes_normalised_sizes_to_the_backend(tmp_path):
    backend = HostBackend({"cap": "512MiB", "compression": "lz4"}, tmp_path)
    argv = backend.argv()
    assert argv[argv.index("--cap") + 1] == str(512 << 20)
    parsed = cli.build_parser().parse_args(argv[3:])   # what the backend process parses
    assert cli.config_from_args(parsed).cap_bytes == 512 << 20


def test_runner_refuses_what_the_experiment_refuses(tmp_path):
    with pytest.raises(options.OptionsError) as info:
        HostBackend({"cap": "5x"}, tmp_path)
    assert info.value.field == "cap" and "bad size '5x'" in info.value.reason
    assert validate({"cap": "5x"}) == info.value.args[0]
