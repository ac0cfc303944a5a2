"""Page encodings: compression codecs (a table looked up by name) and same-filled pages.

A stored page is a pair (kind, blob). The kind travels with the blob (also into the durable
store), so a backend restarted with another `--compression` still reads old pages.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import NamedTuple

import lz4.block
import zstandard

# Entry kinds. RAW..ZSTD hold a blob; SAME holds the 8-byte fill word; DEDUP holds a digest.
RAW, ZLIB, LZ4, ZSTD, SAME, DEDUP = range(6)
KIND_NAMES = ("raw", "zlib", "lz4", "zstd", "same", "dedup")

# A page that compresses to more than this fraction of its size is kept raw: decompressing
# it would cost time for almost no memory (Xen counted these as "compress_poor").
POOR_RATIO_NUM, POOR_RATIO_DEN = 7, 8

_zstd_c = zstandard.ZstdCompressor(level=1, write_content_size=True, write_checksum=False)
_zstd_d = zstandard.ZstdDecompressor()


def _zlib_c(page) -> bytes:
    # A 4 KiB window is the whole of a small page and halves the per-call setup cost.
    return zlib.compress(page, 1, wbits=-12 if len(page) <= 4096 else -15)


def _zlib_d(blob: bytes, size: int) -> bytes:
    return zlib.decompress(blob, wbits=-12 if size <= 4096 else -15, bufsize=size)


def _lz4_c(page) -> bytes:
    return lz4.block.compress(page, store_size=False)


def _lz4_d(blob: bytes, size: int) -> bytes:
    return lz4.block.decompress(blob, uncompressed_size=size)


def _zstd_d_sized(blob: bytes, size: int) -> bytes:
    return _zstd_d.decompress(blob, max_output_size=size)


class Codec(NamedTuple):
    name: str
    kind: int
    compress: Callable | None
    decompress: Callable | None


CODECS: dict[str, Codec] = {
    "none": Codec("none", RAW, None, None),
    "zlib": Codec("zlib", ZLIB, _zlib_c, _zlib_d),
    "lz4": Codec("lz4", LZ4, _lz4_c, _lz4_d),
    "zstd": Codec("zstd", ZSTD, _zstd_c.compress, _zstd_d_sized),
}
_BY_KIND = {c.kind: c for c in CODECS.values()}


class UnknownCodec(ValueError):
    def __init__(self, name: str):
        super().__init__(f"unknown compression {name!r} (choose from {', '.join(CODECS)})")
        self.name = name


def get(name: str) -> Codec:
    try:
        return CODECS[name]
    except KeyError:
        raise UnknownCodec(name) from None


def fill_word(page: bytes) -> bytes | None:
    """The repeated 8-byte word if `page` is same-filled (as zswap checks), else None."""
    head = page[:8]
    if head != page[-8:]:
        return None  # the common case for real data: one cheap compare
    if page[8:] != page[:-8]:
        return None
    return head


def encode(codec: Codec, page) -> tuple[int, bytes, bool]:
    """(kind, blob, poor) for a page that is not same-filled; poor means kept raw."""
    if codec.compress is None:
        return RAW, page if isinstance(page, bytes) else bytes(page), False
    blob = codec.compress(page)
    if len(blob) * POOR_RATIO_DEN > len(page) * POOR_RATIO_NUM:
        return RAW, bytes(page), True
    return codec.kind, blob, False


def decode(kind: int, blob: bytes, size: int) -> bytes:
    if kind == RAW:
        return blob
    if kind == SAME:
        return blob * (size // 8)
    return _BY_KIND[kind].decompress(blob, size)
