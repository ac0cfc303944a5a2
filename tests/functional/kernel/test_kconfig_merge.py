"""Merge and verify against the real kconfig tooling of Debian's linux-source-6.1 (with
the project's patch series applied) and linux-source-6.12, fetched and cached on first
use."""

import pytest

from harness.build import kbuild, kconfig
from harness.errors import KernelBuildError, KernelSpecError

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


@pytest.fixture(scope="module")
def src_612():
    return kbuild.source_tree(kbuild.source_version("6.12"), "6.12")


@pytest.mark.parametrize("name", ["baseline", "zswap-zstd-zsmalloc", "zswap-lz4-z3fold",
                                  "zram-lz4"])
def test_shipped_configs_apply_to_6_12_and_verify(src_612, tmp_path, name):
    fragments = kbuild.fragments_for(name, "6.12")
    kbuild.check_applies(fragments, src_612, "6.12", f"{name}@6.12")
    config = kconfig.parse(kbuild.configure(src_612, tmp_path / "b", fragments,
                                            tmp_path / "log"))
    assert "FRONTSWAP" not in config  # removed in 6.6: not even "is not set"
    if name == "zram-lz4":  # 6.12's compressor backends (kernel_configs/6.12/zram-lz4)
        assert config["ZRAM_BACKEND_LZ4"] == "y" and config["ZRAM_DEF_COMP_LZ4"] == "y"


def test_tmem_does_not_apply_to_6_12_and_says_why_before_configuring(src_612):
    with pytest.raises(KernelSpecError) as info:
        kbuild.check_applies(kbuild.fragments_for("tmem", "6.12"), src_612, "6.12",
                             "tmem@6.12")
    assert str(info.value) == (
        "config:tmem@6.12: tmem.config does not apply to linux-source-6.12: "
        "CONFIG_FRONTSWAP (no such symbol in this tree's Kconfig), CONFIG_TMEMLAB_FRONTSWAP "
        "(defined by kernel_configs/patches/6.1/, which is for 6.1 only)")
