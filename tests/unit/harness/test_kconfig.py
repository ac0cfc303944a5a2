from pathlib import Path

from harness.build import kconfig

FINAL = """CONFIG_SWAP=y
CONFIG_ZSWAP=y
CONFIG_CRYPTO_LZ4=m
# CONFIG_ZRAM is not set
CONFIG_CMDLINE="console=ttyS0"
"""


def test_parse_reads_set_unset_and_strings():
    assert kconfig.parse(FINAL) == {"SWAP": "y", "ZSWAP": "y", "CRYPTO_LZ4": "m",
                                    "ZRAM": "n", "CMDLINE": '"console=ttyS0"'}


def test_verify_reports_dropped_and_changed_symbols_with_their_fragment():
    frags = [("base.config", "CONFIG_SWAP=y\nCONFIG_ZSMALLOC_STAT=y\n"),
             ("zswap.config", "CONFIG_ZSWAP=y\nCONFIG_CRYPTO_LZ4=y\n# CONFIG_ZRAM is not set\n")]
    misses = {m.symbol: m for m in kconfig.verify(frags, FINAL)}
    assert set(misses) == {"ZSMALLOC_STAT", "CRYPTO_LZ4"}
    assert misses["ZSMALLOC_STAT"].fragment == "base.config"
    assert misses["ZSMALLOC_STAT"].actual == "it unset"
    assert misses["CRYPTO_LZ4"].actual == "CONFIG_CRYPTO_LZ4=m"


def test_later_fragment_overrides_earlier():
    frags = [("base.config", "CONFIG_ZRAM=y\n"), ("x.config", "# CONFIG_ZRAM is not set\n")]
    assert kconfig.verify(frags, FINAL) == []


def test_explain_reads_dependencies_and_hidden_symbols(tmp_path: Path):
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / "Kconfig").write_text(
        'config FRONTSWAP\n\tbool\n\nconfig ZSWAP\n\tbool "Compressed cache for swap pages"\n'
        "\tdepends on SWAP\n\tdepends on CRYPTO=y\n\tselect FRONTSWAP\n\n"
        'config ZPOOL\n\ttristate "pool"\n')
    assert "hidden symbol" in kconfig.explain("FRONTSWAP", tmp_path)
    assert kconfig.explain("ZSWAP", tmp_path) == "depends on SWAP && CRYPTO=y"
    assert "no such symbol" in kconfig.explain("NOPE", tmp_path)
    miss = kconfig.Miss("ZSWAP", "zswap.config", "y", "it unset")
    assert miss.describe(tmp_path) == ("CONFIG_ZSWAP=y requested by zswap.config but the final "
                                       ".config has it unset (depends on SWAP && CRYPTO=y)")


def _tree(root: Path) -> Path:
    (root / "mm").mkdir(parents=True)
    (root / "mm" / "Kconfig").write_text(
        "config ZSWAP\n\tbool \"zswap\"\nmenuconfig ZRAM\n\ttristate \"zram\"\n"
        "config Z3FOLD_DEPRECATED\n\ttristate \"z3fold\"\n")
    (root / "arch" / "arm64").mkdir(parents=True)
    (root / "arch" / "arm64" / "Kconfig").write_text("config ARM64_ONLY\n\tbool\n")
    return root


def test_defined_symbols_reads_config_and_menuconfig_for_x86_only(tmp_path: Path):
    assert kconfig.defined_symbols(_tree(tmp_path)) == {"ZSWAP", "ZRAM", "Z3FOLD_DEPRECATED"}


def test_undefined_requests_name_set_symbols_the_tree_lacks_not_unset_ones():
    frags = [("base.config", "CONFIG_ZSWAP=y\nCONFIG_FRONTSWAP=y\n"),
             ("tmem.config", "CONFIG_TMEM=y\n# CONFIG_ZBUD is not set\n"),
             ("later.config", "# CONFIG_FRONTSWAP is not set\n")]
    assert kconfig.undefined_requests(frags, {"ZSWAP"}) == [("tmem.config", "TMEM")]
