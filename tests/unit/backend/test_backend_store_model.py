"""The store against a simple model (hypothesis stateful testing).

The model is a dict per pool. Persistent pools must match it exactly, always: a page the
store accepted is never lost. Ephemeral pools may lose pages (eviction) but never return
wrong or stale data, and an ephemeral get is exclusive. Accounting must add up and stay
within every quota and the host cap.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from host_backend import codec
from host_backend.protocol import Status
from host_backend.store import DEDUP_RECORD_OVERHEAD, EPHEMERAL_OVERHEAD, PageStore

UNIT = 4096 + EPHEMERAL_OVERHEAD
CONTENTS = [bytes(4096), b"\xab" * 4096] + [
    (bytes([n]) * 8 + b"model page %d " % n * 400)[:4096] for n in range(4)
] + [bytes(range(256)) * 16]
GUESTS = ("a", "b")
KINDS = ("per", "eph")


class StoreModel(RuleBasedStateMachine):
    @initialize(compression=st.sampled_from(sorted(codec.CODECS)), dedup=st.booleans(),
                cap=st.integers(2, 12), quota=st.one_of(st.none(), st.integers(1, 8)))
    def setup(self, compression, dedup, cap, quota):
        self.store = PageStore(compression, cap_bytes=cap * UNIT, dedup=dedup)
        self.guests = {
            "a": self.store.add_guest("a", max_pages=quota, weight=100),
            "b": self.store.add_guest("b", max_bytes=quota and quota * UNIT, weight=50),
        }
        self.pools = {}
        self.model = {}
        for name, guest in self.guests.items():
            for kind in KINDS:
                pid = self.store.new_pool(guest, kind == "per")
                self.pools[name, kind] = pid
                self.model[name, kind] = {}

    keys = st.tuples(st.sampled_from(GUESTS), st.sampled_from(KINDS),
                     st.sampled_from([0, 1, (0, 0, 1)]), st.integers(0, 3))

    @rule(key=keys, content=st.sampled_from(CONTENTS))
    def put(self, key, content):
        name, kind, oid, index = key
        status = self.store.put(self.guests[name], self.pools[name, kind], oid, index, content)
        model = self.model[name, kind]
        if status == Status.OK:
            model[oid, index] = content
        else:
            assert status == Status.NO_SPACE
            model.pop((oid, index), None)  # a failed duplicate put drops the old copy

    @rule(key=keys)
    def get(self, key):
        name, kind, oid, index = key
        data = self.store.get(self.guests[name], self.pools[name, kind], oid, index)
        model = self.model[name, kind]
        if kind == "per":
            assert data == model.get((oid, index))
        else:
            if data is not None:
                assert data == model.pop((oid, index))  # exclusive: gone from now on
            else:
                model.pop((oid, index), None)  # evicted (or never there)

    @rule(key=keys)
    def flush_page(self, key):
        name, kind, oid, index = key
        status = self.store.flush_page(self.guests[name], self.pools[name, kind], oid, index)
        had = self.model[name, kind].pop((oid, index), None)
        if kind == "per":
            assert status == (Status.OK if had is not None else Status.NOT_FOUND)

    @rule(name=st.sampled_from(GUESTS), kind=st.sampled_from(KINDS),
          oid=st.sampled_from([0, 1, (0, 0, 1)]))
    def flush_object(self, name, kind, oid):
        self.store.flush_object(self.guests[name], self.pools[name, kind], oid)
        model = self.model[name, kind]
        for key in [k for k in model if k[0] == oid]:
            del model[key]

    @rule(name=st.sampled_from(GUESTS), kind=st.sampled_from(KINDS))
    def recreate_pool(self, name, kind):
        guest = self.guests[name]
        self.store.destroy_pool(guest, self.pools[name, kind])
        self.pools[name, kind] = self.store.new_pool(guest, kind == "per")
        self.model[name, kind] = {}

    @invariant()
    def persistent_pages_are_all_there_and_right(self):
        for name in GUESTS:
            pool = self.guests[name].pools[self.pools[name, "per"]]
            stored = {(oid, i) for oid, obj in pool.objects.items() for i in obj}
            assert stored == set(self.model[name, "per"])

    @invariant()
    def ephemeral_pages_are_a_subset_of_the_model(self):
        for name in GUESTS:
            guest = self.guests[name]
            pool = guest.pools[self.pools[name, "eph"]]
            for oid, obj in pool.objects.items():
                for index, (kind, blob) in obj.items():
                    if kind == codec.DEDUP:
                        kind, blob, _ = guest.dedup[blob]
                    data = codec.decode(kind, blob, 4096)
                    assert data == self.model[name, "eph"][oid, index]

    @invariant()
    def accounting_adds_up_and_limits_hold(self):
        if not hasattr(self, "store"):
            return
        total = 0
        for guest in self.guests.values():
            cost = guest.dedup_bytes
            pages = 0
            for pool in guest.pools.values():
                for obj in pool.objects.values():
                    for kind, blob in obj.values():
                        pages += 1
                        cost += pool.overhead + (len(blob) if kind < codec.SAME else 0)
            assert guest.bytes == cost and guest.pages == pages
            assert guest.dedup_bytes == sum(DEDUP_RECORD_OVERHEAD + len(r[1])
                                            for r in guest.dedup.values())
            assert all(r[2] > 0 for r in guest.dedup.values())
            assert len(guest.lru) == sum(len(o) for o in guest.pools[
                self.pools[guest.name, "eph"]].objects.values())
            if guest.max_pages is not None:
                assert guest.pages <= guest.max_pages
            if guest.max_bytes is not None:
                assert guest.bytes <= guest.max_bytes
            total += cost
        assert self.store.bytes == total <= self.store.cap_bytes


StoreModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                        deadline=None)
TestStoreModel = StoreModel.TestCase
