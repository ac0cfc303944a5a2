"""A run labelled with a technique must have used it; a guest OOM kill fails the run."""

import pytest

from harness.run import checks


def record(params=None, swaps=(), allow_unused=False, **deltas):
    return {"result": {"corrupted_pages": 0}, "deltas": deltas,
            "guest": {"params": params or {}, "swaps": list(swaps)},
            "kernel": {"allow_unused": allow_unused}}


ZSWAP_ON = {"zswap.enabled": "Y", "zswap.compressor": "lzo"}
ZRAM = [{"device": "/dev/zram0", "priority": 100}, {"device": "/dev/vdb", "priority": -2}]


def test_zswap_enabled_but_no_zswpout_fails():
    # Found: `zswap.enable=1` (typo) gave a "zswap" column of plain disk-swap numbers; and
    # an enabled zswap that never stored is as mislabelled.
    result = checks.evaluate(record(ZSWAP_ON, pswpout=117470, zswpout=0))
    assert checks.failures(result) == ["zswap_stored_pages: zswap enabled, zswpout=0"]


def test_zswap_that_stored_passes_and_disabled_zswap_is_not_checked():
    assert checks.evaluate(record(ZSWAP_ON, zswpout=30111))["zswap_stored_pages"]["ok"]
    off = record({"zswap.enabled": "N"}, zswpout=0)
    assert "zswap_stored_pages" not in checks.evaluate(off)


def test_zram_swap_without_writes_fails():
    # Found: zram0 below the disk in priority took nothing after 117,470 swap-outs.
    result = checks.evaluate(record(swaps=ZRAM, pswpout=117470, guest_zram0_write_ios=0))
    assert not result["zram_took_writes"]["ok"]
    assert checks.evaluate(record(swaps=ZRAM, guest_zram0_write_ios=5))["zram_took_writes"]["ok"]


def test_zram_never_sampled_fails():
    assert not checks.evaluate(record(swaps=ZRAM, pswpout=1))["zram_took_writes"]["ok"]


def test_allow_unused_lets_an_idle_technique_pass():
    result = checks.evaluate(record(ZSWAP_ON, swaps=ZRAM, allow_unused=True, zswpout=0,
                                    guest_zram0_write_ios=0))
    assert not checks.failures(result)


@pytest.mark.parametrize("kills, ok", [(0, True), (3, False)])
def test_oom_kills_fail(kills, ok):
    # Found: 2 x 300M stress-ng workers in a 192 MiB guest: three OOM kills, run passed.
    r = record(oom_kill=kills)
    r["oom_killed"] = ["stress-ng-vm"] * kills
    result = checks.evaluate(r)
    assert result["no_oom_kills"]["ok"] is ok
    if not ok:
        assert "stress-ng-vm" in result["no_oom_kills"]["detail"]


def test_allow_unused_is_an_experiment_field(tmp_path):
    from harness.experiment import experiment
    path = tmp_path / "e.yaml"
    path.write_text("kernels: [{kernel: distro:debian-6.1, allow_unused: true}]\n"
                    "workloads: [{name: pressure}]\n")
    assert experiment.load(path).kernels[0].allow_unused is True
