"""On-disk copy of persistent pages (LMDB), so a `kill -9` and restart loses nothing.

The store stages changes as it makes them; the server calls `commit()` once per batch of
received frames, before it sends the replies: a page is acknowledged only once it is in
LMDB. What that promises depends on `sync`:
- `sync=False` (`--durable`): writes go through the OS page cache without fsync. An
  acknowledged page survives the backend process dying (kill -9, a crash, OOM kill); it
  does NOT survive a host crash or power loss (the page cache is lost with the host).
  That is the failure that matters here: a host crash takes the guests, and their swap
  state, down too.
- `sync=True` (`--durable-sync`): LMDB fdatasyncs data and meta pages in every commit,
  before the replies go out: an acknowledged page also survives a host crash or power
  loss, as far as the disk honours flushes. Cost: host_backend/README.md.

Keys are big-endian so LMDB's byte order groups a guest's pages by pool and object:
  pools: name \\0 pool_id(u32)                      -> flags(u32) page_shift(u32)
  pages: name \\0 pool_id(u32) oid(24 B) index(u32) -> kind(u8) blob
"""

from __future__ import annotations

import os
import struct

import lmdb

_POOL_KEY = struct.Struct(">I")
_POOL_VAL = struct.Struct("<II")
_INDEX = struct.Struct(">I")
_PERSISTENT = 1


class DurableError(Exception):
    def __init__(self, path: str, reason: str):
        super().__init__(f"durable store {path}: {reason}")
        self.path = path
        self.reason = reason


class DurableStore:
    def __init__(self, path: str, map_size: int = 1 << 36, sync: bool = False):
        self.path = path
        self.sync = sync
        try:
            os.makedirs(path, exist_ok=True)
            self._env = lmdb.open(path, map_size=map_size, max_dbs=4, sync=sync,
                                  metasync=sync, lock=True)
        except (OSError, lmdb.Error) as exc:
            raise DurableError(path, str(exc)) from exc
        self._pools = self._env.open_db(b"pools")
        self._pages = self._env.open_db(b"pages")
        self._meta = self._env.open_db(b"meta")
        self._ops: list = []
        with self._env.begin(write=True, db=self._meta) as txn:
            epoch = txn.get(b"epoch")
            if epoch is None:
                epoch = os.urandom(8)
                txn.put(b"epoch", epoch)
        self.epoch = int.from_bytes(epoch, "little")

    def close(self) -> None:
        self.commit()
        self._env.close()

    # --- staging (called by the store on its hot path: cheap appends only) ---------------

    def stage_pool(self, guest: str, pool_id: int, persistent: bool, shift: int) -> None:
        self._ops.append((0, _pool_key(guest, pool_id),
                          _POOL_VAL.pack(_PERSISTENT if persistent else 0, shift)))

    def stage_drop_pool(self, guest: str, pool_id: int) -> None:
        self._ops.append((1, _pool_key(guest, pool_id), None))

    def stage_put(self, guest: str, pool_id: int, oid: bytes, index: int, entry) -> None:
        key = _pool_key(guest, pool_id) + oid + _INDEX.pack(index)
        self._ops.append((2, key, bytes((entry[0],)) + entry[1]))

    def stage_delete(self, guest: str, pool_id: int, oid: bytes, index: int) -> None:
        self._ops.append((3, _pool_key(guest, pool_id) + oid + _INDEX.pack(index), None))

    def stage_drop_object(self, guest: str, pool_id: int, oid: bytes) -> None:
        self._ops.append((4, _pool_key(guest, pool_id) + oid, None))

    def commit(self) -> None:
        if not self._ops:
            return
        ops, self._ops = self._ops, []
        with self._env.begin(write=True) as txn:
            for op, key, value in ops:
                if op == 2:
                    txn.put(key, value, db=self._pages)
                elif op == 3:
                    txn.delete(key, db=self._pages)
                elif op == 0:
                    txn.put(key, value, db=self._pools)
                elif op == 1:
                    txn.delete(key, db=self._pools)
                    _delete_prefix(txn, self._pages, key)
                else:
                    _delete_prefix(txn, self._pages, key)

    # --- restore ----------------------------------------------------------------------

    def pools(self):
        with self._env.begin(db=self._pools) as txn:
            for key, value in txn.cursor():
                name, pool_id = _split_pool_key(key)
                flags, shift = _POOL_VAL.unpack(value)
                yield name, pool_id, bool(flags & _PERSISTENT), shift

    def pages(self):
        with self._env.begin(db=self._pages) as txn:
            for key, value in txn.cursor():
                name, pool_id = _split_pool_key(key[:-28])
                oid = bytes(key[-28:-4])
                (index,) = _INDEX.unpack(key[-4:])
                yield name, pool_id, oid, index, (value[0], bytes(value[1:]))


def _pool_key(guest: str, pool_id: int) -> bytes:
    return guest.encode() + b"\0" + _POOL_KEY.pack(pool_id)


def _split_pool_key(key: bytes) -> tuple[str, int]:
    name, _, rest = bytes(key).partition(b"\0")
    return name.decode(), _POOL_KEY.unpack(rest)[0]


def _delete_prefix(txn, db, prefix: bytes) -> None:
    cursor = txn.cursor(db=db)
    if not cursor.set_range(prefix):
        return
    while cursor.key().startswith(prefix):
        if not cursor.delete():
            break
