"""Page kinds compress the way the experiments assume.

lz4 stands in for zswap's LZ-class compressors (lzo, lz4): no entropy
stage, so it is the harshest judge of the text pages.
"""

import os
import subprocess

import pytest

lz4_block = pytest.importorskip("lz4.block")
PAGE = os.sysconf("SC_PAGE_SIZE")


def pages(tools, kind: str, count: int = 64) -> list[bytes]:
    data = subprocess.run(
        [str(tools / "pagegen"), kind, str(count)], check=True, capture_output=True
    ).stdout
    assert len(data) == count * PAGE
    return [data[i : i + PAGE] for i in range(0, len(data), PAGE)]


def lz4_ratio(chunks: list[bytes]) -> float:
    packed = sum(len(lz4_block.compress(p, store_size=False)) for p in chunks)
    return sum(map(len, chunks)) / packed


def test_text_pages_are_3_to_4x_compressible(tools):
    text = pages(tools, "text")
    assert len(set(text)) == len(text)
    assert 2.7 <= lz4_ratio(text) <= 4.5


def test_random_pages_are_incompressible(tools):
    assert lz4_ratio(pages(tools, "random")) < 1.01


def test_dup_pages_share_a_few_templates(tools):
    dup = pages(tools, "dup")
    assert 1 < len(set(dup)) <= 4
    assert lz4_ratio(dup) < 1.01  # only deduplication helps, not compression


def test_zero_pages_are_zero(tools):
    assert set(pages(tools, "zero", 4)) == {bytes(PAGE)}
