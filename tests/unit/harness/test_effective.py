"""Settings in effect: requests derived from the run, checked against captured read-backs."""

from pathlib import Path

import pytest

from harness.run import effective

DATA = Path(__file__).resolve().parents[2] / "data" / "readback"
BASE = "console=ttyS0 panic=-1 loglevel=4 root=/dev/vda"
DEBIAN = {"ZSWAP": "y", "ZSWAP_COMPRESSOR_DEFAULT": '"lzo"', "ZSWAP_ZPOOL_DEFAULT": '"zbud"',
          "FRONTSWAP": "y", "ZRAM": "m"}


def facts(name: str, **changes) -> dict:
    data = effective.parse_readback((DATA / name).read_text())
    data.update(changes)
    return data


def check(cmdline: str, data: dict, config=None, swap_mib=256, params=None):
    config = DEBIAN if config is None else config
    wanted = effective.requested(f"{BASE} {cmdline}".strip(), config.get, swap_mib, params)
    return effective.verify(wanted, data)


def wrong(settings) -> dict[str, effective.Setting]:
    return {s.name: s for s in effective.mismatches(settings)}


def test_parse_readback():
    data = facts("debian-zram-below-disk.txt")
    assert data["uname_r"] == "6.1.0-41-amd64"
    assert data["cmdline"].endswith("tmemlab.zram=128M")
    assert [s["device"] for s in data["swaps"]] == ["/dev/vdb", "/dev/zram0"]
    assert data["params"]["zswap.enabled"] == "N"
    assert data["zram"]["disksize"] == "134217728"
    assert data["thp"] == "madvise"
    assert data["mem_total_kb"] == 221372 and data["cpus"] == 1
    assert data["modules"] == ["zram", "zswap"]


def test_a_cut_short_readback_is_an_error():
    text = (DATA / "debian-zswap-typo.txt").read_text().replace("@@ end", "")
    with pytest.raises(ValueError, match="cut short"):
        effective.parse_readback(text)


def test_mistyped_parameter_fails_naming_it():
    # Found: `zswap.enable=1` passed with zswap `enabled: N` and zswpout 0.
    bad = wrong(check("zswap.enable=1", facts("debian-zswap-typo.txt")))
    assert set(bad) == {"zswap.enable"}
    assert "zswap has no parameter 'enable'" in str(bad["zswap.enable"])
    assert "enabled" in bad["zswap.enable"].effective  # the real names are listed


def test_unknown_compressor_fails_with_requested_and_effective():
    # Found: `zswap.enabled=1 zswap.compressor=lz5` ran with lzo and passed.
    cmdline = "zswap.enabled=1 zswap.compressor=lz5"
    data = facts("debian-zswap-typo.txt", cmdline=f"{BASE} {cmdline}")
    data["params"] = {**data["params"], "zswap.enabled": "Y"}
    bad = wrong(check(cmdline, data))
    assert set(bad) == {"zswap.compressor"}
    assert str(bad["zswap.compressor"]) == \
        "zswap.compressor: requested lz5 (cmdline), in effect lzo"


def test_zram_below_the_disk_fails():
    # Found: /proc/swaps showed the disk at -2 and zram0 at -3; zram took nothing.
    bad = wrong(check("tmemlab.zram=128M", facts("debian-zram-below-disk.txt")))
    assert set(bad) == {"zram0 swap priority"}
    assert bad["zram0 swap priority"].effective == "/dev/vdb -2, /dev/zram0 -3"


def test_zram_above_the_disk_passes():
    data = facts("debian-zram-below-disk.txt")
    data["swaps"] = [{**s, "priority": {"/dev/zram0": -2, "/dev/vdb": -3}[s["device"]]}
                     for s in data["swaps"]]
    settings = check("tmemlab.zram=128M", data)
    assert not effective.mismatches(settings)
    names = {s.name for s in settings}
    assert {"zram0 disksize", "swap /dev/zram0", "swap /dev/vdb", "swap areas",
            "kernel command line", "zswap.enabled", "zswap.compressor"} <= names


def test_zram_size_and_algorithm_from_config():
    data = facts("debian-zram-below-disk.txt", swaps=[
        {"device": "/dev/zram0", "type": "partition", "size_kb": 65532, "used_kb": 0,
         "priority": -2}])
    config = {"ZRAM": "y", "ZRAM_DEF_COMP": '"lz4"'}
    bad = wrong(check("tmemlab.zram=128M", data, config, swap_mib=0))
    assert set(bad) == {"zram0 comp_algorithm", "swap /dev/zram0"}
    assert bad["zram0 comp_algorithm"].effective == "lzo-rle"


def test_zram_comp_on_the_cmdline_overrides_the_config_default_and_is_checked():
    data = facts("debian-zram-below-disk.txt", swaps=[
        {"device": "/dev/zram0", "type": "partition", "size_kb": 65532, "used_kb": 0,
         "priority": -2}])
    config = {"ZRAM": "y", "ZRAM_DEF_COMP": '"lzo-rle"'}
    bad = wrong(check("tmemlab.zram=128M tmemlab.zram_comp=lz4", data, config, swap_mib=0))
    got = bad["zram0 comp_algorithm"]
    assert (got.requested, got.source, got.effective) == ("lz4", "cmdline", "lzo-rle")
    ok = check("tmemlab.zram=128M tmemlab.zram_comp=lzo-rle", data, config, swap_mib=0)
    assert "zram0 comp_algorithm" not in wrong(ok)


def test_config_defaults_are_requests_too():
    # A config: kernel named zswap-lz4 asks for lz4 through its config, not its cmdline.
    config = {"ZSWAP": "y", "ZSWAP_DEFAULT_ON": "y", "ZSWAP_COMPRESSOR_DEFAULT": '"lz4"',
              "ZSWAP_ZPOOL_DEFAULT": '"z3fold"'}
    data = facts("debian-zswap-typo.txt", cmdline=BASE)
    bad = wrong(check("", data, config))
    assert {(s.name, s.requested, s.effective, s.source) for s in bad.values()} == {
        ("zswap.enabled", "Y", "N", "kernel config"),
        ("zswap.compressor", "lz4", "lzo", "kernel config"),
        ("zswap.zpool", "z3fold", "zbud", "kernel config")}


def test_cmdline_overrides_config_default():
    data = facts("debian-zswap-typo.txt", cmdline=f"{BASE} zswap.enabled=0")
    assert not effective.mismatches(check("zswap.enabled=0", data))


def test_kernel_without_zswap_fails_a_zswap_request():
    data = facts("debian-zswap-typo.txt", cmdline=f"{BASE} zswap.enabled=1", modules=[],
                 params={})
    bad = wrong(check("zswap.enabled=1", data, config={}))
    assert "no zswap in this kernel" in bad["zswap.enabled"].effective


def test_swap_disk_missing_or_wrong_size_fails():
    data = facts("debian-zswap-typo.txt", cmdline=BASE, swaps=[])
    bad = wrong(check("", data, swap_mib=256))
    assert set(bad) == {"swap /dev/vdb", "swap areas"}
    data = facts("debian-zswap-typo.txt", cmdline=BASE)
    assert set(wrong(check("", data, swap_mib=512))) == {"swap /dev/vdb"}


def test_unexpected_swap_area_fails():
    data = facts("debian-zram-below-disk.txt", cmdline=BASE)
    assert set(wrong(check("", data))) == {"swap areas"}


def test_cmdline_tokens_must_reach_the_guest():
    data = facts("debian-zswap-typo.txt", cmdline=BASE)
    bad = wrong(check("mitigations=off", data))
    assert bad["kernel command line"].effective == "missing mitigations=off"


@pytest.mark.parametrize("cmdline, thp, params, ok", [
    ("transparent_hugepage=never", "never", None, True),
    ("transparent_hugepage=always", "madvise", None, False),
    ("", "never", {"thp": True}, False),
    ("", "madvise", {"thp": True}, True),
])
def test_thp_mode(cmdline, thp, params, ok):
    data = facts("debian-zswap-typo.txt", cmdline=f"{BASE} {cmdline}".strip(), thp=thp)
    assert (not effective.mismatches(check(cmdline, data, params=params))) == ok


@pytest.mark.parametrize("requested, effective_value, same", [
    ("1", "Y", True), ("y", "Y", True), ("on", "Y", True), ("0", "N", True),
    (None, "Y", True), ("1", "N", False), ("maybe", "Y", False),
    ("20", "20", True), ("020", "20", True), ("lz4", "lz4", True), ("lz4", "lzo", False),
])
def test_same_value(requested, effective_value, same):
    assert effective.same_value(requested, effective_value) is same


def test_dashes_and_underscores_are_one_in_parameter_names():
    assert effective.cmdline_params("zswap.max-pool-percent=30 quiet") == [
        ("zswap.max_pool_percent", "30"), ("quiet", None)]


def test_vcpus_the_guest_does_not_see_fail():
    data = facts("debian-zswap-typo.txt")
    wanted = effective.requested(BASE, DEBIAN.get, 256, None, vcpus=2)
    bad = wrong(effective.verify(wanted, data))
    assert set(bad) == {"vcpus"} and bad["vcpus"].effective == "1"
    wanted = effective.requested(BASE, DEBIAN.get, 256, None, vcpus=1)
    assert not wrong(effective.verify(wanted, data))


def test_tmem_frontend_mode_not_in_effect_fails():
    # A kernel without the async patch (or a mode it refused) boots in sync mode.
    params = {"tmem.mode": "sync", "tmem.window": "256", "tmem.batch": "1"}
    cmdline = "tmem.mode=async tmem.batch=32"
    data = facts("debian-zswap-typo.txt", modules=["tmem", "zswap"], params=params,
                 cmdline=f"{BASE} {cmdline}")
    bad = wrong(check(cmdline, data, config={}, swap_mib=256))
    assert set(bad) == {"tmem.mode", "tmem.batch"}
    assert (bad["tmem.mode"].requested, bad["tmem.mode"].effective) == ("async", "sync")
