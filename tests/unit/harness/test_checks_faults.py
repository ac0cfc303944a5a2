import pytest

from harness.run import backend, checks, faults


def run(**deltas):
    deltas.setdefault("tmem_succ_stores", deltas.get("succ_stores", 0))
    return {"result": {"corrupted_pages": 0}, "deltas": deltas,
            "backend": {"options": {}}}


def test_checks_apply_only_when_their_counters_exist():
    assert set(checks.evaluate(run(pswpout=5))) == {"no_corrupted_pages"}


def test_zswap_guest_beside_a_backend_is_not_a_tmem_guest():
    r = run(succ_stores=39884, backend_good_puts=0, loads=100, backend_found_gets=0)
    del r["deltas"]["tmem_succ_stores"]  # zswap owns frontswap: no tmem debugfs
    assert set(checks.evaluate(r)) == {"no_corrupted_pages"}


def test_consistent_tmem_counters_pass():
    result = checks.evaluate(run(succ_stores=100, backend_good_puts=102, tmem_reject_timeout=2,
                                 loads=40, backend_found_gets=40))
    assert all(r["ok"] for r in result.values()), result
    assert set(result) == {"no_corrupted_pages", "stores_reached_tmem",
                           "stores_match_backend_good_puts", "loads_match_backend_found_gets"}


def async_run(promised, acked, cancelled, good_puts, inflight_max, **more):
    r = run(succ_stores=promised, tmem_succ_stores=acked, tmem_async_stores=promised,
            tmem_put_cancelled=cancelled, backend_good_puts=good_puts, **more)
    r["summary"] = {"tmem_inflight_max_max": inflight_max}
    return r


def test_async_promises_are_acked_cancelled_or_in_flight():
    # 1000 promised: 950 acked, 30 cancelled (10 of them had reached the host), 20 in flight
    result = checks.evaluate(async_run(1000, 950, 30, 960, 64, loads=300, tmem_slot_hits=12,
                                       backend_found_gets=288))
    assert all(r["ok"] for r in result.values()), result


@pytest.mark.parametrize("promised, acked, cancelled, good_puts, inflight_max", [
    (1000, 900, 0, 900, 64),     # 100 promises unaccounted for, window 64: lost pages
    (1000, 990, 0, 980, 64),     # the guest counts acks the backend never gave
    (1000, 990, 5, 1001, 64),    # the backend took more than acked + cancelled + in flight
])
def test_async_accounting_that_does_not_add_up_fails(promised, acked, cancelled, good_puts,
                                                     inflight_max):
    result = checks.evaluate(async_run(promised, acked, cancelled, good_puts, inflight_max))
    assert not result["stores_match_backend_good_puts"]["ok"]


def test_async_slot_hits_are_loads_the_host_never_saw():
    r = async_run(10, 10, 0, 10, 8, loads=50, tmem_slot_hits=5, backend_found_gets=50)
    assert not checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]


def test_prefetch_gets_are_found_gets_no_load_asked_for():
    # 100 loads: 60 served by prefetched pages, 40 asked for; 80 prefetch GETs sent
    r = async_run(10, 10, 0, 10, 8, loads=100, tmem_prefetch_hits=60,
                  tmem_prefetch_issued=80, backend_found_gets=40 + 75)
    assert checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]
    r["deltas"]["backend_found_gets"] = 39   # a load the host never answered
    assert not checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]


@pytest.mark.parametrize("deltas, failing", [
    ({"succ_stores": 100, "backend_good_puts": 90}, "stores_match_backend_good_puts"),
    ({"succ_stores": 100, "backend_good_puts": 105}, "stores_match_backend_good_puts"),
    ({"succ_stores": 0, "backend_good_puts": 0}, "stores_reached_tmem"),
    ({"succ_stores": 5, "backend_good_puts": 5, "loads": 10, "backend_found_gets": 9},
     "loads_match_backend_found_gets"),
])
def test_disagreeing_counters_fail(deltas, failing):
    result = checks.evaluate(run(**deltas))
    assert not result[failing]["ok"]
    assert any(f.startswith(failing) for f in checks.failures(result))


def test_quota_zero_does_not_require_stores():
    r = run(succ_stores=0, backend_good_puts=0)
    r["backend"]["options"]["max_pages"] = 0
    assert "stores_reached_tmem" not in checks.evaluate(r)


def test_corruption_fails():
    r = run()
    r["result"]["corrupted_pages"] = 2
    assert checks.failures(checks.evaluate(r)) == ["no_corrupted_pages: corrupted_pages=2"]


@pytest.mark.parametrize("value, ok", [
    ([{"at_s": 5, "action": "backend_kill", "restart_after_s": 3}], True),
    ([{"at_s": 5, "action": "reboot"}], False),
    ([{"at_s": -1, "action": "backend_kill"}], False),
    ([{"action": "backend_kill", "when": 3}], False),
    ({"action": "backend_kill"}, False),
])
def test_fault_validation(value, ok):
    assert (faults.validate(value) is None) == ok


@pytest.mark.parametrize("options, ok", [
    ({"compression": "lz4", "max_pages": 0, "durable": True}, True),
    ({"compression": "brotli"}, False), ({"max_pages": -1}, False),
    ({"durable": "yes"}, False), ({"colour": 1}, False), ({"cap": "512M"}, True),
])
def test_backend_option_validation(options, ok):
    assert (backend.validate(options) is None) == ok


class FakeBackend:
    def __init__(self):
        self.calls = []

    def kill(self):
        self.calls.append("kill")

    def start(self):
        self.calls.append("start")


def test_injector_kills_then_restarts_in_order():
    fake = FakeBackend()
    inj = faults.FaultInjector([{"at_s": 0.05, "action": "backend_kill",
                                 "restart_after_s": 0.05}], fake)
    inj.start()
    inj.join(timeout=5)
    assert fake.calls == ["kill", "start"]
    assert [e["event"] for e in inj.events] == ["backend_kill", "backend_restart"]


def test_flatten_backend_stats():
    row = backend.flatten({"puts": 3, "good_puts": 2, "stored_pages": 2, "rejects":
                           {"quota_pages": 1}, "latency": {
                               "put": {"count": 1, "p50_us": 10.0, "p99_us": 20.0},
                               "put_batch": {"count": 2, "p50_us": 40.0, "p99_us": 80.0}}})
    assert row["backend_good_puts"] == 2 and row["backend_rejects_quota_pages"] == 1
    assert row["backend_put_p99_us"] == 20.0 and row["backend_gets"] == 0
    assert row["backend_frames_put"] == 1 and row["backend_frames_put_batch"] == 2
    assert row["backend_put_batch_p99_us"] == 80.0


def test_frames_per_page_counts_data_frames_on_the_port():
    from harness.run.monitors import derived
    # 64 pages in 2 PUT_BATCH frames + 1 plain GET: 3 frames for 65 pages
    out = derived({"backend_puts": 64, "backend_gets": 1, "backend_frames_put_batch": 2,
                   "backend_frames_get": 1, "backend_frames_flush_batch": 7})
    assert out["tmem_frames_per_page"] == round(3 / 65, 4)


def test_exact_counter_checks_skip_runs_with_a_backend_kill():
    r = run(succ_stores=100, backend_good_puts=60, loads=10, backend_found_gets=4)
    r["faults"] = [{"t": 6.0, "event": "backend_kill"}, {"t": 12.0, "event": "backend_restart"}]
    assert set(checks.evaluate(r)) == {"no_corrupted_pages", "stores_reached_tmem"}


def test_counter_increase_survives_a_source_restart():
    from harness.run.monitors import increase, summarize
    assert increase([10, 15, 30]) == 20
    assert increase([10, 50, 3, 8]) == 40 + 3 + 5  # restarted from zero after 50
    rows = [{"t": 0, "backend_good_puts": 5}, {"t": 1, "backend_good_puts": 9},
            {"t": 2}, {"t": 3, "backend_good_puts": 2}]
    assert summarize(rows)[0]["backend_good_puts"] == 4 + 2


def test_events_between_the_last_row_and_the_closing_read_are_allowed_once():
    # 6 loads happened after the guest's last row, before the backend's final sample
    r = run(succ_stores=10, backend_good_puts=10, loads=6906, tmem_slot_hits=194,
            backend_found_gets=6718)
    assert not checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]
    r["closing"] = {"loads": 6906 + 6, "succ_stores": 10}
    assert checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]
    r["closing"]["loads"] = 6906 + 5
    assert not checks.evaluate(r)["loads_match_backend_found_gets"]["ok"]


def test_closing_read_is_growth_since_the_first_row():
    from harness.run import monitors
    rows = [{"loads": 100, "succ_stores": 50}, {"loads": 900, "succ_stores": 80}]
    assert monitors.parse_closing("912\n81\n", rows) == {"loads": 812, "succ_stores": 31}
    assert monitors.parse_closing("cat: no such file\n", rows) == {}
    assert monitors.parse_closing("1\n2\n", [{"pswpin": 3}]) == {}


def test_cpu_per_swapped_page_counts_disk_and_frontswap_pages_once():
    from harness.run.monitors import per_swapped_page
    out = per_swapped_page({"pswpin": 10, "pswpout": 20, "succ_stores": 50, "loads": 20,
                            "cpu_system_s": 0.5, "qemu_cpu_s": 1.0, "backend_cpu_s": 0.2})
    assert out == {"swapped_pages": 100, "guest_sys_us_per_swapped_page": 5000.0,
                   "host_cpu_us_per_swapped_page": 12000.0}
    assert per_swapped_page({"cpu_system_s": 1.0}) == {}
