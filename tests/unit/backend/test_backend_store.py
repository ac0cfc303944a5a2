"""Store semantics: page sizes, quotas, caps, eviction, exclusivity, replacement, encodings."""

import os
import tracemalloc

import pytest

from host_backend import codec
from host_backend.protocol import Status
from host_backend.store import (
    DEDUP_RECORD_OVERHEAD,
    EPHEMERAL_OVERHEAD,
    PERSISTENT_OVERHEAD,
    BadGuestName,
    BadPageSize,
    PageStore,
    TooManyPools,
    UnknownPool,
)

PAGE = bytes(range(256)) * 16
P_UNIT = 4096 + PERSISTENT_OVERHEAD  # a raw persistent page's charge
E_UNIT = 4096 + EPHEMERAL_OVERHEAD


def page(n: int, size: int = 4096) -> bytes:
    """A distinct, compressible, not same-filled page."""
    return (n.to_bytes(8, "little") + b"tmem page " * (size // 10 + 1))[:size]


def entries_cost(store: PageStore) -> int:
    total = 0
    for guest in store.guests.values():
        total += guest.dedup_bytes
        for pool in guest.pools.values():
            for obj in pool.objects.values():
                for kind, blob in obj.values():
                    total += pool.overhead + (len(blob) if kind < codec.SAME else 0)
    return total


@pytest.mark.parametrize("shift", range(10))
def test_every_power_of_two_page_size_from_4k_to_2m(shift):
    store = PageStore("lz4")
    g = store.add_guest("g")
    pool = store.new_pool(g, True, shift)
    size = 4096 << shift
    data = os.urandom(size // 2) + page(shift, size // 2)
    assert store.put(g, pool, 1, 0, data) == Status.OK
    assert store.get(g, pool, 1, 0) == data
    assert store.put(g, pool, 1, 1, data[:-1]) == Status.BAD_REQUEST  # wrong size


@pytest.mark.parametrize("shift", [-1, 10, 12])
def test_page_sizes_outside_4k_2m_are_refused(shift):
    store = PageStore()
    with pytest.raises(BadPageSize):
        store.new_pool(store.add_guest("g"), True, shift)


def test_pool_limit_and_unknown_pool():
    store = PageStore()
    g = store.add_guest("g")
    ids = [store.new_pool(g, True) for _ in range(32)]
    assert ids == list(range(32))
    with pytest.raises(TooManyPools):
        store.new_pool(g, True)
    store.destroy_pool(g, 5)
    assert store.new_pool(g, False) == 5  # lowest free id is reused
    with pytest.raises(UnknownPool):
        store.destroy_pool(g, 99)
    assert store.put(g, 99, 1, 0, PAGE) == Status.BAD_POOL


def test_bad_guest_name():
    with pytest.raises(BadGuestName):
        PageStore().add_guest("../etc")


@pytest.mark.parametrize("compression", sorted(codec.CODECS))
def test_compression_round_trip_and_accounting(compression):
    store = PageStore(compression)
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    pages = [page(i) for i in range(20)] + [os.urandom(4096)]
    for i, data in enumerate(pages):
        assert store.put(g, pool, 1, i, data) == Status.OK
    for i, data in enumerate(pages):
        assert store.get(g, pool, 1, i) == data
    assert store.bytes == g.bytes == entries_cost(store)
    st = g.pools[pool].stats
    if compression == "none":
        assert store.bytes == 21 * P_UNIT
    else:
        assert store.bytes < 21 * 4096 / 2  # these pages compress well
        assert st.compress_poor == 1  # the random page is kept raw


def test_same_filled_pages_store_no_payload():
    store = PageStore("zstd")
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    word_page = b"\x01\x02\x03\x04\x05\x06\x07\x08" * 512
    assert store.put(g, pool, 1, 0, bytes(4096)) == Status.OK
    assert store.put(g, pool, 1, 1, word_page) == Status.OK
    assert store.bytes == 2 * PERSISTENT_OVERHEAD  # the fill word is not charged
    assert store.get(g, pool, 1, 0) == bytes(4096)
    assert store.get(g, pool, 1, 1) == word_page
    assert g.pools[pool].stats.same_filled == 2
    assert codec.fill_word(b"\0" * 4095 + b"\1") is None


def test_persistent_put_over_page_quota_is_refused_and_nothing_is_lost():
    store = PageStore()
    g = store.add_guest("g", max_pages=3)
    pool = store.new_pool(g, True)
    assert [store.put(g, pool, 1, i, page(i)) for i in range(4)] == [0, 0, 0, Status.NO_SPACE]
    assert g.pools[pool].stats.rejects["quota_pages"] == 1
    assert [store.get(g, pool, 1, i) for i in range(3)] == [page(i) for i in range(3)]
    assert store.flush_page(g, pool, 1, 0) == Status.OK
    assert store.put(g, pool, 1, 3, page(3)) == Status.OK  # room again


def test_byte_quota_and_host_cap_are_enforced():
    store = PageStore(cap_bytes=3 * P_UNIT)
    a = store.add_guest("a", max_bytes=2 * P_UNIT)
    b = store.add_guest("b")
    pa, pb = store.new_pool(a, True), store.new_pool(b, True)
    assert store.put(a, pa, 1, 0, page(0)) == Status.OK
    assert store.put(a, pa, 1, 1, page(1)) == Status.OK
    assert store.put(a, pa, 1, 2, page(2)) == Status.NO_SPACE
    assert a.pools[pa].stats.rejects["quota_bytes"] == 1
    assert store.put(b, pb, 1, 0, page(3)) == Status.OK
    assert store.put(b, pb, 1, 1, page(4)) == Status.NO_SPACE
    assert b.pools[pb].stats.rejects["host_cap"] == 1
    assert store.bytes <= store.cap_bytes


def test_ephemeral_pages_make_room_for_persistent_ones_lru_first():
    store = PageStore(cap_bytes=3 * E_UNIT)
    g = store.add_guest("g")
    eph, per = store.new_pool(g, False), store.new_pool(g, True)
    for i in range(3):
        assert store.put(g, eph, 1, i, page(i)) == Status.OK
    assert store.put(g, eph, 1, 0, page(0)) == Status.OK  # re-put: 0 becomes most recent
    assert store.put(g, per, 1, 0, page(9)) == Status.OK  # evicts the LRU ephemeral page: 1
    assert store.get(g, eph, 1, 1) is None
    assert g.pools[eph].stats.evictions == 1
    assert store.get(g, eph, 1, 2) == page(2)


def test_eviction_takes_from_the_guest_most_over_its_weight_share():
    unit = E_UNIT
    store = PageStore(cap_bytes=8 * unit)
    heavy = store.add_guest("heavy", weight=100)
    light = store.add_guest("light", weight=300)
    ph, pl = store.new_pool(heavy, False), store.new_pool(light, False)
    for i in range(4):
        store.put(heavy, ph, 1, i, page(i))
        store.put(light, pl, 1, i, page(i))
    # light's share is 3/4 of the space and it uses half: heavy (share 1/4) pays.
    assert store.put(light, pl, 2, 0, page(7)) == Status.OK
    assert heavy.pools[ph].stats.evictions == 1 and light.pools[pl].stats.evictions == 0


def test_persistent_pages_are_never_evicted():
    store = PageStore(cap_bytes=2 * P_UNIT)
    g = store.add_guest("g")
    per, eph = store.new_pool(g, True), store.new_pool(g, False)
    assert store.put(g, per, 1, 0, page(0)) == Status.OK
    assert store.put(g, per, 1, 1, page(1)) == Status.OK
    assert store.put(g, eph, 1, 0, page(2)) == Status.NO_SPACE
    assert store.get(g, per, 1, 0) == page(0) and store.get(g, per, 1, 1) == page(1)


def test_ephemeral_get_is_exclusive_persistent_get_is_not():
    store = PageStore()
    g = store.add_guest("g")
    eph, per = store.new_pool(g, False), store.new_pool(g, True)
    store.put(g, eph, 1, 0, page(0))
    store.put(g, per, 1, 0, page(0))
    assert store.get(g, eph, 1, 0) == page(0)
    assert store.get(g, eph, 1, 0) is None
    assert store.get(g, per, 1, 0) == page(0) == store.get(g, per, 1, 0)
    assert store.pages == 1 and not g.lru


def test_duplicate_put_replaces_and_a_failed_one_leaves_no_stale_page():
    store = PageStore("zlib", cap_bytes=PERSISTENT_OVERHEAD * 2 + 200)
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    assert store.put(g, pool, (1, 2, 3), 0, bytes(4096)) == Status.OK
    assert store.put(g, pool, (1, 2, 3), 0, b"\7" * 4096) == Status.OK
    assert store.get(g, pool, (1, 2, 3), 0) == b"\7" * 4096
    assert store.pages == 1
    assert store.put(g, pool, (1, 2, 3), 0, os.urandom(4096)) == Status.NO_SPACE
    assert store.get(g, pool, (1, 2, 3), 0) is None  # the old copy went with the failed put
    assert store.pages == 0 and store.bytes == 0


def test_flush_object_and_destroy_pool_free_everything():
    store = PageStore("lz4")
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    for oid in range(3):
        for i in range(5):
            store.put(g, pool, oid, i, page(i))
    assert store.flush_object(g, pool, 1) == Status.OK
    assert store.flush_object(g, pool, 1) == Status.NOT_FOUND
    assert store.get(g, pool, 1, 0) is None and store.get(g, pool, 2, 0) == page(0)
    assert store.pages == 10 and store.bytes == entries_cost(store)
    store.destroy_pool(g, pool)
    assert store.pages == store.bytes == g.pages == g.bytes == 0
    assert g.as_dict()["puts"] == 15  # counters of a destroyed pool stay with the guest


def test_dedup_charges_shared_content_once_per_guest():
    store = PageStore("none", dedup=True)
    a, b = store.add_guest("a"), store.add_guest("b")
    pa, pb = store.new_pool(a, False), store.new_pool(b, False)
    for i in range(3):
        assert store.put(a, pa, 1, i, page(42)) == Status.OK
    store.put(b, pb, 1, 0, page(42))
    assert a.pools[pa].stats.dedup_hits == 2 and b.pools[pb].stats.dedup_hits == 0
    record = DEDUP_RECORD_OVERHEAD + 4096
    assert a.bytes == 3 * EPHEMERAL_OVERHEAD + record and b.bytes == EPHEMERAL_OVERHEAD + record
    assert store.get(a, pa, 1, 0) == page(42)
    assert store.flush_page(a, pa, 1, 1) == Status.OK
    assert store.get(a, pa, 1, 2) == page(42)
    assert a.pages == a.bytes == a.dedup_bytes == a.eph_bytes == 0 and not a.dedup
    assert store.bytes == b.bytes == entries_cost(store)


def test_dedup_is_not_used_for_persistent_pools():
    store = PageStore(dedup=True)
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    store.put(g, pool, 1, 0, page(1))
    store.put(g, pool, 1, 1, page(1))
    assert g.pools[pool].stats.dedup_hits == 0 and not g.dedup


def test_stats_shape_uses_xen_names():
    store = PageStore("lz4")
    g = store.add_guest("g")
    pool = store.new_pool(g, True)
    store.put(g, pool, 1, 0, page(0))
    store.get(g, pool, 1, 0)
    stats = store.stats()["guests"]["g"]
    for key in ("puts", "good_puts", "gets", "found_gets", "flushes", "evictions", "rejects",
                "stored_pages", "stored_bytes", "compression_ratio", "same_filled",
                "dedup_hits"):
        assert key in stats, key
    assert stats["pools"]["0"]["compression_ratio"] > 1


@pytest.mark.parametrize("compression", ["none", "lz4"])
@pytest.mark.parametrize("persistent", [True, False])
def test_accounting_matches_what_python_really_allocates(compression, persistent):
    """stored_bytes is what the host cap counts: it must track real memory, not guess."""
    store = PageStore(compression)
    g = store.add_guest("g")
    pool = store.new_pool(g, persistent)
    pages = [page(i)[:2048] + os.urandom(2048) for i in range(64)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3000):
            store.put(g, pool, i // 64, i, memoryview(pages[i % 64]))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.9 < store.bytes / used < 1.1
