"""Pure logic of TCG time dilation (harness/run/dilation.py)."""

import pytest

from harness.run import dilation


def bench(memcpy_ns: float, lz4_ns: float) -> dict:
    return {"memcpy": {"ns_per_page": memcpy_ns}, "lz4": {"ns_per_page": lz4_ns}}


def test_factor_is_the_geometric_mean_of_the_two_slowdowns():
    f = dilation.factors(bench(1000, 32000), bench(100, 2000))
    assert f["memcpy"] == 10 and f["lz4"] == 16
    assert f["factor"] == pytest.approx((10 * 16) ** 0.5, abs=1e-3)


@pytest.mark.parametrize("setting,accel,expected", [
    ("none", "tcg", 1.0), ("tcg", "tcg", 12.5), ("tcg", "kvm", 1.0), (4.0, "kvm", 4.0)])
def test_scale_for(setting, accel, expected):
    assert dilation.scale_for(setting, accel, 12.5) == expected


def test_scaled_limits_keep_unlimited_and_never_reach_zero():
    got = dilation.scaled({"total_iops_sec": 150, "total_bytes_sec": 0,
                           "read_bytes_sec": 209715200}, 200.0)
    assert got == {"total_iops_sec": 1, "total_bytes_sec": 0, "read_bytes_sec": 1048576}


@pytest.mark.parametrize("text", ["", "oops\n", '{"memcpy": {"ns_per_page": 1}}\n',
                                  '{"memcpy": {"ns_per_page": 0}, "lz4": {"ns_per_page": 1}}'])
def test_parse_bench_rejects_what_is_not_a_full_result(text):
    with pytest.raises(dilation.DilationError):
        dilation.parse_bench(text)


def test_host_bench_names_a_missing_binary(tmp_path):
    with pytest.raises(dilation.DilationError, match="tmemlab-cpubench: missing"):
        dilation.host_bench(tmp_path)
