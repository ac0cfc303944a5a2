"""The page store: guests, pools, quotas, eviction, compression and dedup. No I/O.

Semantics are Xen tmem's, with its gaps closed:
- persistent pages are never dropped by the store; a put that does not fit is refused
  (NO_SPACE) and the guest writes that page to its own swap disk;
- ephemeral pages may be evicted, least recently put first, from the guest whose ephemeral
  use is furthest over its weight share; a get from an (always private) ephemeral pool is
  exclusive;
- a duplicate put replaces; the old copy is dropped first, so a failed duplicate put leaves
  no stale page behind (Xen did the same);
- quotas (pages and bytes per guest) and the host cap are enforced, and a page is charged
  its stored bytes plus a per-page overhead (its pool's `overhead`).

Object ids are keys `o0` when o1 == o2 == 0 (the frontswap case), else `(o0, o1, o2)`.
The store does not know about sockets; the server calls it, never the reverse.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections import OrderedDict

from . import codec as pagecodec
from .codec import DEDUP, RAW, SAME
from .protocol import MAX_PAGE_SHIFT, MIN_PAGE_SHIFT, Status, oid_key
from .stats import PoolStats

OK = int(Status.OK)
NOT_FOUND = int(Status.NOT_FOUND)
NO_SPACE = int(Status.NO_SPACE)
BAD_POOL = int(Status.BAD_POOL)
BAD_REQUEST = int(Status.BAD_REQUEST)

# Charged per stored page on top of its blob: the entry tuple (56), the blob's bytes header
# (33), the index dict slot and int (~70); ephemeral pages add their LRU node and key tuple.
# Checked against tracemalloc (tests/unit/backend/test_backend_store.py): within 10%.
# A dedup record adds its own bytes header and list.
PERSISTENT_OVERHEAD = 160
EPHEMERAL_OVERHEAD = 296
DEDUP_RECORD_OVERHEAD = 120
MAX_POOLS_PER_GUEST = 32
GUEST_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_OID = struct.Struct("<QQQ")


class StoreError(Exception):
    """A store operation the caller asked for wrongly (the server maps it to a status)."""


class UnknownGuest(StoreError):
    def __init__(self, name: str):
        super().__init__(f"no guest named {name!r}")
        self.name = name


class BadGuestName(StoreError):
    def __init__(self, name: str):
        super().__init__(f"bad guest name {name!r} (use 1-64 of A-Z a-z 0-9 _ . -)")
        self.name = name


class UnknownPool(StoreError):
    def __init__(self, pool_id: int):
        super().__init__(f"no pool {pool_id}")
        self.pool_id = pool_id


class TooManyPools(StoreError):
    def __init__(self):
        super().__init__(f"a guest may hold at most {MAX_POOLS_PER_GUEST} pools")


class BadPageSize(StoreError):
    def __init__(self, shift: int):
        super().__init__(f"page shift {shift} outside {MIN_PAGE_SHIFT}..{MAX_PAGE_SHIFT}")
        self.shift = shift


def oid_wire(key) -> bytes:
    return _OID.pack(key, 0, 0) if isinstance(key, int) else _OID.pack(*key)


def _cost(entry: tuple, overhead: int) -> int:
    return overhead + len(entry[1]) if entry[0] < SAME else overhead


class Pool:
    __slots__ = (
        "bytes",
        "id",
        "objects",
        "overhead",
        "page_shift",
        "page_size",
        "pages",
        "persistent",
        "stats",
    )

    def __init__(self, pool_id: int, persistent: bool, page_shift: int):
        self.id = pool_id
        self.persistent = persistent
        self.page_shift = page_shift
        self.page_size = 4096 << page_shift
        self.overhead = PERSISTENT_OVERHEAD if persistent else EPHEMERAL_OVERHEAD
        self.objects: dict = {}  # oid key -> {index: (kind, blob)}
        self.pages = 0
        self.bytes = 0
        self.stats = PoolStats()

    def as_dict(self) -> dict:
        out = {"persistent": self.persistent, "page_size": self.page_size,
               "stored_pages": self.pages, "stored_bytes": self.bytes,
               "compression_ratio": _ratio(self.pages * self.page_size, self.bytes)}
        out.update(self.stats.as_dict())
        return out


class Guest:
    __slots__ = (
        "bytes",
        "client_name",
        "dedup",
        "dedup_bytes",
        "eph_bytes",
        "lru",
        "max_bytes",
        "max_pages",
        "name",
        "pages",
        "pools",
        "retired",
        "weight",
    )

    def __init__(self, name: str, max_pages=None, max_bytes=None, weight: int = 100):
        if not GUEST_NAME.match(name):
            raise BadGuestName(name)
        self.name = name
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        self.weight = weight
        self.pools: dict[int, Pool] = {}
        self.pages = 0
        self.bytes = 0
        self.eph_bytes = 0
        self.dedup_bytes = 0
        # Ephemeral pages in put order: (pool id, oid key, index) -> None.
        self.lru: OrderedDict = OrderedDict()
        # Dedup is per guest: sharing blobs across guests would let one guest learn, through
        # its own quota use, that another holds the same page.
        self.dedup: dict[bytes, list] = {}  # digest -> [kind, blob, refs]
        self.retired = PoolStats()  # counters of destroyed pools
        self.client_name = ""

    def as_dict(self) -> dict:
        totals = PoolStats()
        totals.add(self.retired)
        for pool in self.pools.values():
            totals.add(pool.stats)
        logical = sum(p.pages * p.page_size for p in self.pools.values())
        out = {"max_pages": self.max_pages, "max_bytes": self.max_bytes, "weight": self.weight,
               "client_name": self.client_name, "stored_pages": self.pages,
               "stored_bytes": self.bytes, "ephemeral_bytes": self.eph_bytes,
               "dedup_bytes": self.dedup_bytes, "compression_ratio": _ratio(logical, self.bytes)}
        out.update(totals.as_dict())
        out["pools"] = {str(pid): p.as_dict() for pid, p in self.pools.items()}
        return out


def _ratio(logical: int, stored: int) -> float:
    return round(logical / stored, 3) if stored else 0.0


class PageStore:
    def __init__(self, compression: str = "none", cap_bytes: int | None = None,
                 dedup: bool = False, durable=None):
        self.codec = pagecodec.get(compression)
        self.cap_bytes = cap_bytes
        self.dedup = dedup
        self.durable = durable
        self.guests: dict[str, Guest] = {}
        self.pages = 0
        self.bytes = 0
        self.epoch = durable.epoch if durable is not None else int.from_bytes(os.urandom(8),
                                                                               "little")
        if durable is not None:
            self._restore()

    # --- guests and pools -----------------------------------------------------------

    def add_guest(self, name: str, max_pages=None, max_bytes=None, weight: int = 100) -> Guest:
        """Create a guest, or update the limits of one that exists (e.g. restored from disk)."""
        guest = self.guests.get(name)
        if guest is None:
            guest = self.guests[name] = Guest(name, max_pages, max_bytes, weight)
        else:
            guest.max_pages, guest.max_bytes, guest.weight = max_pages, max_bytes, weight
        return guest

    def guest(self, name: str) -> Guest:
        try:
            return self.guests[name]
        except KeyError:
            raise UnknownGuest(name) from None

    def remove_guest(self, name: str) -> None:
        guest = self.guest(name)
        self.reset_guest(guest)
        del self.guests[name]

    def reset_guest(self, guest: Guest) -> None:
        """Drop every pool of a guest (a guest boot: its old swap contents mean nothing)."""
        for pool_id in list(guest.pools):
            self.destroy_pool(guest, pool_id)

    def new_pool(self, guest: Guest, persistent: bool, page_shift: int = 0,
                 pool_id: int | None = None) -> int:
        if not MIN_PAGE_SHIFT <= page_shift <= MAX_PAGE_SHIFT:
            raise BadPageSize(page_shift)
        if pool_id is None:
            if len(guest.pools) >= MAX_POOLS_PER_GUEST:
                raise TooManyPools()
            pool_id = min(set(range(MAX_POOLS_PER_GUEST)) - guest.pools.keys())
        guest.pools[pool_id] = Pool(pool_id, persistent, page_shift)
        if self.durable is not None:
            self.durable.stage_pool(guest.name, pool_id, persistent, page_shift)
        return pool_id

    def destroy_pool(self, guest: Guest, pool_id: int) -> None:
        pool = guest.pools.get(pool_id)
        if pool is None:
            raise UnknownPool(pool_id)
        for oid in list(pool.objects):
            self._drop_object(guest, pool, oid, durable=False)
        guest.retired.add(pool.stats)
        del guest.pools[pool_id]
        if self.durable is not None:
            self.durable.stage_drop_pool(guest.name, pool_id)

    # --- pages -----------------------------------------------------------------------

    def put(self, guest: Guest, pool_id: int, oid, index: int, page) -> int:
        pool = guest.pools.get(pool_id)
        if pool is None:
            return BAD_POOL
        st = pool.stats
        st.puts += 1
        if len(page) != pool.page_size:
            st.rejects["bad_size"] += 1
            return BAD_REQUEST
        obj = pool.objects.get(oid)
        if obj is not None and index in obj:
            self._drop(guest, pool, oid, index, obj)
        data = page if isinstance(page, bytes) else bytes(page)
        # Same-filled test, cheapest reject first: two ints, then 8 bytes, then the page.
        if data[0] == data[-8] and data[:8] == data[-8:] and data[8:] == data[:-8]:
            st.same_filled += 1
            entry = (SAME, data[:8])
            cost = pool.overhead
        elif self.dedup and not pool.persistent:
            return self._put_dedup(guest, pool, oid, index, data)
        elif self.codec.compress is None:
            entry = (RAW, data)
            cost = pool.overhead + len(data)
        else:
            kind, blob, poor = pagecodec.encode(self.codec, data)
            if poor:
                st.compress_poor += 1
            entry = (kind, blob)
            cost = pool.overhead + len(blob)
        # Inline fast path of _fits(): nothing over any limit.
        if not ((guest.max_pages is None or guest.pages < guest.max_pages)
                and (guest.max_bytes is None or guest.bytes + cost <= guest.max_bytes)
                and (self.cap_bytes is None or self.bytes + cost <= self.cap_bytes)
                ) and not self._fits(guest, cost, st):
            return NO_SPACE
        self._insert(guest, pool, oid, index, entry, cost)
        return OK

    def _put_dedup(self, guest: Guest, pool: Pool, oid, index: int, data: bytes) -> int:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        st = pool.stats
        blob = kind = None
        while True:
            rec = guest.dedup.get(digest)
            if rec is None and blob is None:
                kind, blob, poor = pagecodec.encode(self.codec, data)
                st.compress_poor += poor
            extra = 0 if rec is not None else DEDUP_RECORD_OVERHEAD + len(blob)
            if not self._fits(guest, pool.overhead + extra, st):
                return NO_SPACE
            if rec is guest.dedup.get(digest):
                break  # making room did not evict the record we counted on
        if rec is None:
            guest.dedup[digest] = [kind, blob, 1]
            self._charge(guest, extra, ephemeral=True)
            guest.dedup_bytes += extra
        else:
            rec[2] += 1
            st.dedup_hits += 1
        self._insert(guest, pool, oid, index, (DEDUP, digest), pool.overhead)
        return OK

    def get(self, guest: Guest, pool_id: int, oid, index: int):
        """The page's bytes, None on a miss; raises UnknownPool."""
        pool = guest.pools.get(pool_id)
        if pool is None:
            raise UnknownPool(pool_id)
        st = pool.stats
        st.gets += 1
        obj = pool.objects.get(oid)
        if obj is None:
            return None
        entry = obj.get(index)
        if entry is None:
            return None
        st.found_gets += 1
        kind, blob = entry
        if kind == DEDUP:
            kind, blob, _ = guest.dedup[blob]
        data = pagecodec.decode(kind, blob, pool.page_size) if kind else blob
        if not pool.persistent:
            self._drop(guest, pool, oid, index, obj)  # private ephemeral gets are exclusive
        return data

    def flush_page(self, guest: Guest, pool_id: int, oid, index: int) -> int:
        pool = guest.pools.get(pool_id)
        if pool is None:
            return BAD_POOL
        pool.stats.flushes += 1
        obj = pool.objects.get(oid)
        if obj is None or index not in obj:
            return NOT_FOUND
        pool.stats.found_flushes += 1
        self._drop(guest, pool, oid, index, obj)
        return OK

    def flush_object(self, guest: Guest, pool_id: int, oid) -> int:
        pool = guest.pools.get(pool_id)
        if pool is None:
            return BAD_POOL
        pool.stats.flush_objects += 1
        if oid not in pool.objects:
            return NOT_FOUND
        self._drop_object(guest, pool, oid, durable=True)
        return OK

    def commit(self) -> None:
        """Make every accepted persistent change durable; call before replying."""
        if self.durable is not None:
            self.durable.commit()

    # --- accounting and eviction ---------------------------------------------------------

    def _fits(self, guest: Guest, cost: int, st: PoolStats) -> bool:
        """Make room for `cost` bytes and one page, evicting ephemeral pages if that helps."""
        while True:
            if guest.max_pages is not None and guest.pages >= guest.max_pages:
                reason, victim = "quota_pages", guest
            elif guest.max_bytes is not None and guest.bytes + cost > guest.max_bytes:
                reason, victim = "quota_bytes", guest
            elif self.cap_bytes is not None and self.bytes + cost > self.cap_bytes:
                reason, victim = "host_cap", self._most_over_share()
            else:
                return True
            if victim is None or not victim.lru:
                st.rejects[reason] += 1
                return False
            self._evict_one(victim)

    def _most_over_share(self) -> Guest | None:
        holders = [g for g in self.guests.values() if g.lru]
        if not holders:
            return None
        total_w = sum(g.weight for g in holders) or 1
        total_b = sum(g.eph_bytes for g in holders) or 1
        return max(holders, key=lambda g: g.eph_bytes / total_b - g.weight / total_w)

    def _evict_one(self, guest: Guest) -> None:
        pool_id, oid, index = next(iter(guest.lru))
        pool = guest.pools[pool_id]
        pool.stats.evictions += 1
        self._drop(guest, pool, oid, index, pool.objects[oid])

    def _charge(self, guest: Guest, cost: int, ephemeral: bool) -> None:
        guest.bytes += cost
        self.bytes += cost
        if ephemeral:
            guest.eph_bytes += cost

    def _insert(self, guest: Guest, pool: Pool, oid, index: int, entry, cost) -> None:
        # Looked up again: making room may have evicted this object's last other page.
        obj = pool.objects.get(oid)
        if obj is None:
            obj = pool.objects[oid] = {}
        obj[index] = entry
        pool.stats.good_puts += 1
        pool.pages += 1
        pool.bytes += cost
        guest.pages += 1
        guest.bytes += cost
        self.pages += 1
        self.bytes += cost
        if pool.persistent:
            if self.durable is not None:
                self.durable.stage_put(guest.name, pool.id, oid_wire(oid), index, entry)
        else:
            guest.eph_bytes += cost
            guest.lru[(pool.id, oid, index)] = None

    def _drop(self, guest: Guest, pool: Pool, oid, index: int, obj: dict,
              durable: bool = True) -> None:
        entry = obj.pop(index)
        if not obj:
            del pool.objects[oid]
        cost = _cost(entry, pool.overhead)
        pool.pages -= 1
        pool.bytes -= cost
        guest.pages -= 1
        guest.bytes -= cost
        self.pages -= 1
        self.bytes -= cost
        if pool.persistent:
            if durable and self.durable is not None:
                self.durable.stage_delete(guest.name, pool.id, oid_wire(oid), index)
            return
        guest.eph_bytes -= cost
        del guest.lru[(pool.id, oid, index)]
        if entry[0] == DEDUP:
            rec = guest.dedup[entry[1]]
            rec[2] -= 1
            if not rec[2]:
                del guest.dedup[entry[1]]
                extra = DEDUP_RECORD_OVERHEAD + len(rec[1])
                self._charge(guest, -extra, ephemeral=True)
                guest.dedup_bytes -= extra

    def _drop_object(self, guest: Guest, pool: Pool, oid, durable: bool) -> None:
        obj = pool.objects[oid]
        for index in list(obj):
            self._drop(guest, pool, oid, index, obj, durable=False)
        if durable and pool.persistent and self.durable is not None:
            self.durable.stage_drop_object(guest.name, pool.id, oid_wire(oid))

    # --- durable restore and stats ---------------------------------------------------------

    def _restore(self) -> None:
        for name, pool_id, persistent, shift in self.durable.pools():
            guest = self.guests.get(name) or self.add_guest(name)
            guest.pools[pool_id] = Pool(pool_id, persistent, shift)
        for name, pool_id, oid, index, entry in self.durable.pages():
            guest = self.guests.get(name)
            pool = guest.pools.get(pool_id) if guest is not None else None
            if pool is None:
                continue  # a page whose pool row is gone: a destroy that was half applied
            key = oid_key(*_OID.unpack(oid))
            cost = _cost(entry, pool.overhead)
            obj = pool.objects.setdefault(key, {})
            obj[index] = entry
            pool.pages += 1
            pool.bytes += cost
            guest.pages += 1
            guest.bytes += cost
            self.pages += 1
            self.bytes += cost

    def stats(self) -> dict:
        return {
            "compression": self.codec.name, "dedup": self.dedup, "cap_bytes": self.cap_bytes,
            "stored_pages": self.pages, "stored_bytes": self.bytes,
            "entry_overhead": {"persistent": PERSISTENT_OVERHEAD,
                               "ephemeral": EPHEMERAL_OVERHEAD},
            "durable": self.durable is not None,
            "durable_sync": self.durable is not None and self.durable.sync,
            "guests": {name: g.as_dict() for name, g in self.guests.items()},
        }
