"""Source series of config: kernels (NAME@SERIES): naming, fragments per series, and the
check that a fragment applies to a series' tree, on small stand-in trees (pure logic; the
real 6.1 and 6.12 trees are in tests/functional/kernel/test_kconfig_merge.py)."""

from pathlib import Path

import pytest

from harness.build import kbuild
from harness.errors import KernelSpecError


def test_split_spec_defaults_to_the_series_the_tmem_patches_are_for():
    assert kbuild.split_spec("zswap-zstd-zsmalloc") == ("zswap-zstd-zsmalloc", "6.1")
    assert kbuild.split_spec("zram-lz4@6.12") == ("zram-lz4", "6.12")


def test_unknown_series_is_a_one_line_spec_error():
    with pytest.raises(KernelSpecError, match=r"config:zram@6\.9: no source series '6\.9' "
                                              r"\(known: 6\.1, 6\.12"):
        kbuild.split_spec("zram@6.9")


def test_build_label_keeps_the_6_1_names_cache_entries_already_have():
    assert kbuild.build_label("tmem", "6.1") == "tmem"
    assert kbuild.build_label("zram-lz4", "6.12") == "zram-lz4@6.12"


def test_a_series_addendum_follows_the_named_fragment(tmp_path, monkeypatch):
    (tmp_path / "6.12").mkdir()
    (tmp_path / "base.config").write_text("CONFIG_SWAP=y\n")
    (tmp_path / "zram.config").write_text("CONFIG_ZRAM=y\n")
    (tmp_path / "6.12" / "zram.config").write_text("CONFIG_ZRAM_BACKEND_LZ4=y\n")
    monkeypatch.setattr(kbuild, "CONFIGS", tmp_path)
    assert [n for n, _ in kbuild.fragments_for("zram", "6.1")] == ["base.config",
                                                                     "zram.config"]
    assert [n for n, _ in kbuild.fragments_for("zram", "6.12")] == [
        "base.config", "zram.config", "6.12/zram.config"]


def test_the_addendum_changes_the_6_12_key_only(tmp_path, monkeypatch):
    (tmp_path / "6.12").mkdir()
    (tmp_path / "base.config").write_text("CONFIG_SWAP=y\n")
    (tmp_path / "zram.config").write_text("CONFIG_ZRAM=y\n")
    monkeypatch.setattr(kbuild, "CONFIGS", tmp_path)
    monkeypatch.setattr(kbuild, "PATCHES", tmp_path / "patches")
    monkeypatch.setattr(kbuild, "compiler_version", lambda: "gcc 12")
    before = {s: kbuild.build_key("zram", "1", s)[0] for s in kbuild.SERIES}
    (tmp_path / "6.12" / "zram.config").write_text("CONFIG_ZRAM_BACKEND_LZ4=y\n")
    after = {s: kbuild.build_key("zram", "1", s)[0] for s in kbuild.SERIES}
    assert before["6.1"] == after["6.1"] and before["6.12"] != after["6.12"]


@pytest.fixture
def series_layout(tmp_path, monkeypatch):
    """kernel_configs/ with a 6.1 patch that adds TMEMLAB_FRONTSWAP, and a 6.12 tree where
    FRONTSWAP is gone and Z3FOLD is now Z3FOLD_DEPRECATED."""
    configs = tmp_path / "configs"
    (configs / "patches" / "6.1").mkdir(parents=True)
    (configs / "patches" / "6.1" / "0002-tmem.patch").write_text(
        "--- a/mm/Kconfig\n+++ b/mm/Kconfig\n@@ -1 +1,3 @@\n+config TMEMLAB_FRONTSWAP\n"
        "+\tbool \"tmem\"\n")
    (configs / "base.config").write_text("CONFIG_SWAP=y\n")
    (configs / "tmem.config").write_text("CONFIG_FRONTSWAP=y\nCONFIG_TMEMLAB_FRONTSWAP=y\n")
    (configs / "z3fold.config").write_text("CONFIG_ZSWAP=y\nCONFIG_Z3FOLD=y\n")
    monkeypatch.setattr(kbuild, "CONFIGS", configs)
    monkeypatch.setattr(kbuild, "PATCHES", configs / "patches")
    tree = tmp_path / "linux-6.12"
    (tree / "mm").mkdir(parents=True)
    (tree / "mm" / "Kconfig").write_text(
        "config SWAP\n\tbool\nconfig ZSWAP\n\tbool\nconfig Z3FOLD_DEPRECATED\n\ttristate\n")
    return tree


def test_a_fragment_that_does_not_apply_fails_naming_each_symbol_and_why(series_layout):
    with pytest.raises(KernelSpecError) as info:
        kbuild.check_applies(kbuild.fragments_for("tmem", "6.12"), series_layout, "6.12",
                             "tmem@6.12")
    assert str(info.value) == (
        "config:tmem@6.12: tmem.config does not apply to linux-source-6.12: "
        "CONFIG_FRONTSWAP (no such symbol in this tree's Kconfig), CONFIG_TMEMLAB_FRONTSWAP "
        "(defined by kernel_configs/patches/6.1/, which is for 6.1 only)")
    with pytest.raises(KernelSpecError, match=r"CONFIG_Z3FOLD \(renamed "
                                              r"CONFIG_Z3FOLD_DEPRECATED in this series\)"):
        kbuild.check_applies(kbuild.fragments_for("z3fold", "6.12"), series_layout, "6.12",
                             "z3fold@6.12")


def test_a_fragment_that_applies_passes(series_layout: Path):
    kbuild.check_applies(kbuild.fragments_for("base", "6.12"), series_layout, "6.12", "base")


def test_foreign_series_is_known_without_a_source_tree(series_layout):
    assert kbuild.foreign_series("tmem", "6.12") == "6.1"
    assert kbuild.foreign_series("tmem", "6.1") is None
    assert kbuild.foreign_series("z3fold", "6.12") is None
