"""Merge and verify against the real kconfig tooling of Debian's linux-source-6.1, with
the project's patch series applied (fetched and cached on first use)."""

import pytest

from harness import kbuild, kconfig
from harness.errors import KernelBuildError

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def src():
    return kbuild.source_tree(kbuild.source_version())


@pytest.mark.parametrize("name", ["baseline", "zswap-lz4-z3fold", "zram-lz4", "tmem"])
def test_shipped_configs_merge_and_verify(src, tmp_path, name):
    final = kbuild.configure(src, tmp_path / "b", kbuild.fragments_for(name), tmp_path / "log")
    config = kconfig.parse(final)
    assert config["IKCONFIG_PROC"] == "y" and config["VIRTIO_BLK"] == "y"
    if name == "tmem":  # patch 0001: frontswap without zswap
        assert config["FRONTSWAP"] == "y" and config.get("ZSWAP", "n") == "n"
    if name == "baseline":
        assert config.get("FRONTSWAP", "n") == "n" and config.get("ZSWAP", "n") == "n"


def test_impossible_symbol_fails_naming_symbol_fragment_and_dependency(src, tmp_path):
    fragments = kbuild.fragments_for("baseline") + [
        ("impossible.config", "CONFIG_ZSMALLOC_STAT=y\nCONFIG_S390_GUEST=y\n")]
    with pytest.raises(KernelBuildError) as info:
        kbuild.configure(src, tmp_path / "b", fragments, tmp_path / "log")
    message = str(info.value)
    assert "CONFIG_ZSMALLOC_STAT=y requested by impossible.config" in message
    assert "depends on ZSMALLOC" in message
    assert "CONFIG_S390_GUEST=y requested by impossible.config" in message
    assert "no such symbol" in message


def test_unknown_config_name_is_a_clear_error():
    with pytest.raises(KernelBuildError, match="no kernel config 'nope'"):
        kbuild.fragments_for("nope")
