from pathlib import Path

from harness import kconfig

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
