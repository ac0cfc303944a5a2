"""One finding per 2011 objection (and the Xen claim), each with a verdict computed from
the arms' recorded numbers. Nothing here is written by hand but the claims themselves.

The objections are Dan Magenheimer's summary of the review of frontswap (LKML, 2011:
shared/background/): frontswap is 4K-only, synchronous, not zero-copy (a bounce buffer per
put and get) and unbatched. His replies: the ABI takes other page sizes; memory is scarce
and CPU plentiful; there are no bounce buffers; a per-page exit is orders of magnitude
cheaper than a disk access; batching can come if shown useful. The Xen tmem results he
cited: "CPU utilization goes up, but throughput goes up too".

Verdicts: ``supported`` / ``refuted`` / ``depends`` (with the condition that splits it),
or ``not measured`` (naming what is missing). Differences in throughput count only when
significant: Welch's t-test on the logarithms (compare/stats.welch_p_ratio), Holm–Bonferroni
over the comparisons one finding makes (compare/stats.holm), alpha 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.report.compare import stats
from harness.report.debate import copies
from harness.report.debate.arms import DISK_CLASSES, Arm
from harness.run import monitors

SUPPORTED, REFUTED, DEPENDS, NOT_MEASURED = "supported", "refuted", "depends", "not measured"
THROUGHPUT = "pages_per_sec"
ORDERS_OF_MAGNITUDE = 100.0  # "orders of magnitude": at least two (100×)
ONE_ORDER = 10.0


@dataclass(frozen=True)
class Test:
    """``new`` against ``base`` on one metric: gain in percent (positive = higher) and the
    raw and Holm-adjusted p-values (None with fewer than two runs a side)."""
    base: Arm
    new: Arm
    base_mean: float | None
    new_mean: float | None
    gain_pct: float | None
    p: float | None
    p_adj: float | None = None

    @property
    def significant(self) -> bool:
        return stats.significant(self.p_adj)

    @property
    def better(self) -> bool:
        return self.significant and (self.gain_pct or 0) > 0

    @property
    def worse(self) -> bool:
        return self.significant and (self.gain_pct or 0) < 0

    def text(self) -> str:
        if self.gain_pct is None:
            return "n/a"
        p = "n<2: untested" if self.p_adj is None else f"p_adj={self.p_adj:.3g}"
        return f"{self.gain_pct:+.1f}% ({p})"


def test(base: Arm, new: Arm, metric: str = THROUGHPUT) -> Test:
    b, n = base.values(metric), new.values(metric)
    bm, nm = base.mean(metric), new.mean(metric)
    gain = stats.gain_pct(bm, nm, None) if bm and nm is not None else None
    return Test(base, new, bm, nm, gain, stats.welch_p_ratio(b, n))


def holm(tests: list[Test]) -> list[Test]:
    adjusted = stats.holm([t.p for t in tests])
    return [Test(t.base, t.new, t.base_mean, t.new_mean, t.gain_pct, t.p, a)
            for t, a in zip(tests, adjusted)]


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    objection: str          # the claim under test, as it was made
    reply: str              # the answer it got
    measured: str           # what the numbers are and where they come from
    verdict: str            # SUPPORTED / REFUTED / DEPENDS / NOT_MEASURED
    reason: str             # the numbers behind the verdict, and its condition
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    plots: tuple[str, ...] = ()
    numbers: dict = field(default_factory=dict)   # for debate.json

    @property
    def line(self) -> str:
        return f"Verdict: {self.verdict} — {self.reason}"


def _num(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}g}"


def _tmem(arms: list[Arm], shape: str) -> list[Arm]:
    return [a for a in arms if a.technique == "tmem" and a.shape == shape]


def _async(arms: list[Arm]) -> list[Arm]:
    return [a for a in arms if a.technique == "tmem" and a.shape.startswith("async")]


def _pairwise_verdict(tests: list[Test], better_means: str) -> tuple[str, str]:
    """SUPPORTED when some new arm is significantly better than its base, REFUTED when
    every one is significantly worse, DEPENDS otherwise (not significant, or mixed)."""
    wins = [t for t in tests if t.better]
    if wins:
        best = max(wins, key=lambda t: t.gain_pct or 0)
        return SUPPORTED, f"{best.new.name} vs {best.base.name}: {best.text()} {better_means}"
    if tests and all(t.worse for t in tests):
        return REFUTED, "; ".join(f"{t.new.name} vs {t.base.name}: {t.text()}" for t in tests)
    untested = any(t.p_adj is None for t in tests)
    why = "fewer than two runs per arm: no test" if untested else "no significant difference"
    return DEPENDS, why + " (" + "; ".join(
        f"{t.new.name} vs {t.base.name}: {t.text()}" for t in tests) + ")"


HUGE_PAGE = 512       # base pages per x86-64 PMD huge page (2 MiB / 4 KiB)
BYPASS_MATTERS = 0.01  # a share of swapped bytes below 1 % is noise


def thp_bypass(data: dict) -> dict | None:
    """Huge pages the tmem frontend rejected whole (tmem debugfs reject_compound), as a
    share of the base pages swap wrote out (frontswap stores + pswpout, which in 6.1 counts
    a huge page's base pages: mm/page_io.c count_swpout_vm_event)."""
    d = data.get("deltas", {})
    if "tmem_reject_compound" not in d:
        return None
    out_pages = d.get("succ_stores", 0) + d.get("pswpout", 0)
    bypass = d["tmem_reject_compound"] * HUGE_PAGE
    return {"reject_compound": d["tmem_reject_compound"], "thp_swpout": d.get("thp_swpout"),
            "thp_swpout_fallback": d.get("thp_swpout_fallback"),
            "thp_fault_alloc": d.get("thp_fault_alloc"), "swapped_out_pages": out_pages,
            "share": bypass / out_pages if out_pages else 0.0}


def pool_results(arms: list[Arm]) -> list[tuple[Arm, dict]]:
    """(arm, one size × mode result of guest_images/tools/pools.c) for every passed run."""
    return [(a, size) for a in arms if a.first.get("workload", {}).get("name") == "tmem-pools"
            for r in a.passed for size in r.data.get("result", {}).get("sizes", [])]


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def _pools_verdict(pools: list[tuple[Arm, dict]]) -> tuple[bool | None, str]:
    """(every size moved and verified, a sentence); None when no pool run exists."""
    if not pools:
        return None, "the large-page pool runs are missing (experiments/debate/pools.yaml)"
    sizes = sorted({p["page_size"] for _a, p in pools})
    bad = sorted({p["page_size"] for _a, p in pools
                  if p["corrupted"] or not p["gone_after_flush"] or not p["get"]["pages"]})
    span = f"{_size(sizes[0])} … {_size(sizes[-1])}"
    if bad:
        return False, f"pages of {', '.join(map(_size, bad))} failed end to end"
    return True, f"pages of {span} went guest → host → guest verified, batched and not"


def _gain_rows(tests: list[Test], extra=lambda arm: ()) -> tuple[tuple[str, ...], ...]:
    """The reference arm's row, then one per tested arm: name, mean, extra cells, gain
    against the reference, Holm-adjusted p."""
    ref = tests[0].base
    return ((ref.name, _num(tests[0].base_mean), *extra(ref), "reference", ""),) + tuple(
        (t.new.name, _num(t.new_mean), *extra(t.new),
         "–" if t.gain_pct is None else f"{t.gain_pct:+.1f}%", _num(t.p_adj)) for t in tests)


def four_k(arms: list[Arm]) -> Finding:
    base = dict(key="4k", title="4K-only",
                objection="frontswap moves one 4 KiB page per call: huge pages cannot use it.",
                reply="the ABI already takes other page sizes (the host pools accept "
                      "4 KiB … 2 MiB).",
                measured="(1) the ABI: pools of 4 KiB … 2 MiB from inside the guest over a "
                         "port of their own to the same backend (tmemlab-pools: PUT, GET "
                         "verified byte for byte, FLUSH; unbatched and batched); (2) the swap "
                         "path with transparent huge pages (pressure --thp, CONFIG_THP_SWAP): "
                         "huge pages swapped out whole, rejected by the frontend (tmem "
                         "reject_compound) and written to disk instead, as a share of the "
                         "pages swapped out")
    pools = pool_results(arms)
    abi_ok, abi = _pools_verdict(pools)
    rows = [(a.name, f"pool {_size(p['page_size'])}" + (f" ×{p['batch']}" if p["batched"]
                                                           else ""),
             f"{p['put']['bytes_per_sec'] / 1e6:.3g} MB/s", f"{p['get']['bytes_per_sec'] / 1e6:.3g}"
             f" MB/s", f"{p['put']['lat_us']['p50']:.3g} / {p['get']['lat_us']['p50']:.3g}",
             str(p["corrupted"])) for a, p in pools]
    thp = [a for a in arms if a.thp and a.technique == "tmem"]
    measured = [(a, b) for a in thp for r in a.passed if (b := thp_bypass(r.data))]
    rows += [(a.name, "swap path, THP", f"{b['thp_fault_alloc']} THP faults",
              f"{b['thp_swpout']} THP swapped whole", f"{b['reject_compound']} rejected",
              f"{100 * b['share']:.3g}% of {b['swapped_out_pages']} pages bypass tmem")
             for a, b in measured]
    header = ("arm", "what", "PUT", "GET", "p50 µs PUT / GET (per request)", "corrupted")
    if not measured:
        verdict = NOT_MEASURED if abi_ok is None else DEPENDS if abi_ok else SUPPORTED
        return Finding(**base, verdict=verdict, header=header, rows=tuple(rows),
                       reason=f"{abi}; the swap path with huge pages was not measured "
                              "(experiments/debate/thp.yaml)")
    share = stats.amean([b["share"] for _a, b in measured])
    allocated = sum(b["thp_fault_alloc"] or 0 for _a, b in measured)
    if not allocated:
        return Finding(**base, verdict=NOT_MEASURED, header=header, rows=tuple(rows),
                       reason=f"{abi}; the guest allocated no huge pages (thp_fault_alloc 0)")
    path = (f"in the 6.1 swap path {100 * share:.3g}% of the pages swapped out went past tmem "
            f"to disk as whole huge pages" if share >= BYPASS_MATTERS else
            f"huge pages were allocated ({allocated}) but only {100 * share:.3g}% of swapped "
            f"pages bypassed tmem: they were split before swap-out (thp_swpout_fallback "
            f"{sum(b['thp_swpout_fallback'] or 0 for _a, b in measured)}, thp_swpout "
            f"{sum(b['thp_swpout'] or 0 for _a, b in measured)})")
    if share >= BYPASS_MATTERS:
        verdict = DEPENDS if abi_ok else SUPPORTED
    else:
        verdict = REFUTED if abi_ok in (True, None) else SUPPORTED
    return Finding(**base, verdict=verdict, reason=f"{abi}; {path}", header=header,
                   rows=tuple(rows), numbers={"thp_bypass_share": share,
                                              "pools_verified": abi_ok})


def synchronous(arms: list[Arm]) -> Finding:
    sync, asyncs = _tmem(arms, "sync"), _async(arms)
    base = dict(key="sync", title="Synchronous",
                objection="every put and get waits for the host: a synchronous API costs "
                          "throughput that an asynchronous one would keep.",
                reply="memory is scarce and CPU plentiful; the CPU waits anyway.",
                measured=f"workload throughput ({THROUGHPUT}) of tmem sync against each "
                         "asynchronous frontend shape (mm/tmem.c tmem.mode=async, its window, "
                         "batches and prefetch), same guest, workload and backend")
    if not sync or not asyncs:
        return Finding(**base, verdict=NOT_MEASURED,
                       reason="needs a tmem sync arm and at least one async arm")
    tests = holm([test(sync[0], a) for a in asyncs])
    verdict, reason = _pairwise_verdict(tests, "throughput")
    return Finding(**base, verdict=verdict, reason=reason,
                   header=("arm", "pages/s", "vs sync", "p (Holm)"), rows=_gain_rows(tests),
                   plots=("throughput",),
                   numbers={t.new.name: {"gain_pct": t.gain_pct, "p_adj": t.p_adj}
                            for t in tests})


def disk_access(arms: list[Arm]) -> Finding:
    """The reply to 'synchronous': a per-page round trip against each disk class's
    per-request latency, both measured in the same results, and where the throughput
    crosses over."""
    base = dict(key="disk", title="A per-page exit against a disk access",
                objection="a synchronous page copy through the hypervisor is too slow to be "
                          "worth it.",
                reply="even thousands of cycles per page are orders of magnitude below a "
                      "disk access.",
                measured="tmem sync round trip per page (mm/tmem.c tmem_rtt, guest clock) "
                         "against the guest's swap disk read latency per request (block layer "
                         "ticks ÷ reads) for each disk class (libvirt iotune limits), and the "
                         "workload throughput of tmem sync and async+batch against each")
    sync = _tmem(arms, "sync")
    disks = [a for a in arms if a.technique == "disk" and a.mean("swap_disk_read_avg_ms")]
    rtt = sync[0].mean("tmem_rtt_avg_us") if sync else None
    if not sync or not disks or not rtt:
        return Finding(**base, verdict=NOT_MEASURED,
                       reason="needs a tmem sync arm with round-trip counters and disk arms "
                              "that read from swap")
    # Throughput crossover: tmem sync and the batched async shape against every disk arm.
    shapes = [sync[0]] + [a for a in _async(arms) if "+batch" in a.shape][:1]
    tests = holm([test(d, t) for t in shapes for d in disks])
    by = {(t.base, t.new): t for t in tests}
    rows, ratios = [], {}
    for d in disks:
        lat_us = d.mean("swap_disk_read_avg_ms") * 1000
        ratios[d] = lat_us / rtt
        binds = d.limit_binds()
        rows.append((d.name, _num(d.iops_in_effect), "–" if binds is None else
                     "yes" if binds else "no", _num(lat_us), _num(rtt), f"{ratios[d]:.3g}×",
                     _num(d.mean(THROUGHPUT)),
                     *(by[(d, t)].text() for t in shapes)))
    # Dilated arms keep real hardware's CPU-to-disk cost ratio: judge on them when present.
    judged = [d for d in disks if d.dilated] or disks
    which = "dilated disk arms" if judged[0].dilated else "undilated disk arms"
    order = {c.name: i for i, c in enumerate(DISK_CLASSES)}
    judged.sort(key=lambda d: order.get(d.disk, len(order)))
    far = [d for d in judged if ratios[d] >= ORDERS_OF_MAGNITUDE]
    near = [d for d in judged if ratios[d] < ONE_ORDER]
    crossover = "".join(
        f"; {t.name} throughput beats "
        + (", ".join(d.name for d in judged if by[(d, t)].better) or "no disk arm")
        for t in shapes)
    if len(far) == len(judged):
        verdict = SUPPORTED
        reason = f"disk read ≥ {ORDERS_OF_MAGNITUDE:g}× the tmem round trip for every class"
    elif not far and len(near) == len(judged):
        verdict = REFUTED
        reason = f"disk read < {ONE_ORDER:g}× the tmem round trip for every class"
    else:
        verdict = DEPENDS
        reason = "; ".join(f"{d.disk}: {ratios[d]:.3g}×" for d in judged)
    unbound = [d.disk for d in judged if d.limit_binds() is False]
    if unbound:
        reason += (f"; the {', '.join(unbound)} limit did not bind: the guest's own disk "
                   "path was slower than the class, so those arms measure the emulated disk")
    reason += f" ({which}; tmem sync round trip {rtt:.3g} µs){crossover}"
    return Finding(**base, verdict=verdict, reason=reason,
                   header=("disk arm", "IOPS limit", "limit binds", "disk read µs",
                           "tmem sync rtt µs", "disk ÷ tmem",
                           "disk pages/s", *(f"{t.name} vs disk" for t in shapes)),
                   rows=tuple(rows), plots=("latency", "throughput"),
                   numbers={d.name: {"disk_read_us": round(d.mean("swap_disk_read_avg_ms")
                                                           * 1000, 3),
                                     "ratio": round(ratios[d], 3)} for d in disks}
                   | {"tmem_rtt_us": rtt})


COPY_MAJOR = 0.5   # copies at least half of a page's round trip: the objection holds
COPY_MINOR = 0.1   # copies under a tenth of it: they are not where the time goes


def zero_copy(arms: list[Arm]) -> Finding:
    base = dict(key="copy", title="Not zero-copy",
                objection="frontswap copies every page through a bounce buffer on put and "
                          "on get, and the copies cost.",
                reply="there are no bounce buffers.",
                measured="every copy of a page's bytes from the guest page to the host store "
                         "and back (harness/report/debate/copies.py: code location per hop), per "
                         "page the backend put or got, each at the 4 KiB memcpy time measured "
                         "in the same run on the CPU that does it; against the tmem round "
                         "trip per page (mm/tmem.c rtt)")
    rows, shares = [], {}
    for a in arms:
        if a.technique != "tmem":
            continue
        ledgers = [c for r in a.passed if (c := copies.cost(r.data))]
        if not ledgers:
            continue
        mean = {k: stats.amean([c[k] for c in ledgers if c.get(k) is not None] or [0])
                for k in ("copy_us_per_page", "copy_share_of_rtt", "rtt_us")}
        shares[a] = mean["copy_share_of_rtt"]
        c0 = ledgers[0]
        rows.append((a.name, str(c0["put_copies"]), str(c0["get_copies"]),
                     _num(c0["guest_memcpy_ns"]), _num(c0["host_memcpy_ns"]),
                     _num(mean["copy_us_per_page"]), _num(mean["rtt_us"]),
                     f"{100 * shares[a]:.2g}%"))
    if not shares:
        return Finding(**base, verdict=NOT_MEASURED,
                       reason="needs tmem runs with a round trip and a memcpy measurement")
    judged = [a for a in shares if a.shape == "sync"] or list(shares)
    share = max(shares[a] for a in judged)
    n_put = rows[0][1]
    if share >= COPY_MAJOR:
        verdict = SUPPORTED
    elif share < COPY_MINOR:
        verdict = REFUTED
    else:
        verdict = DEPENDS
    reason = (f"copies are {100 * share:.2g}% of the round trip "
              f"({', '.join(a.name for a in judged)}); the reply's 'no bounce buffers' does "
              f"not hold for this path: {n_put} copies per PUT (frontend slot, relay, "
              "virtio-serial, host socket, backend)")
    return Finding(**base, verdict=verdict, reason=reason,
                   header=("arm", "copies/PUT", "copies/GET", "guest memcpy ns",
                           "host memcpy ns", "copy µs/page", "round trip µs",
                           "copies ÷ round trip"),
                   rows=tuple(rows),
                   numbers={a.name: shares[a] for a in shares})


def batching(arms: list[Arm]) -> Finding:
    base = dict(key="batch", title="Unbatched",
                objection="one exit per page: batching pages per exit would cut the cost.",
                reply="batching can be added if it is shown to be useful.",
                measured="throughput of each batched async shape (tmem.batch > 1: the relay "
                         "packs runs of PUTs and GETs into one frame) against unbatched async "
                         "with the same window; data frames per page moved")
    plain = _tmem(arms, "async")
    batched = [a for a in _async(arms) if "+batch" in a.shape]
    if not plain or not batched:
        return Finding(**base, verdict=NOT_MEASURED,
                       reason="needs an unbatched async arm and a batched one")
    tests = holm([test(plain[0], b) for b in batched])
    verdict, reason = _pairwise_verdict(tests, "throughput")
    frames = {a.name: a.mean("tmem_frames_per_page") for a in [plain[0], *batched]}
    reason += "; frames per page " + ", ".join(f"{k}: {_num(v)}" for k, v in frames.items())
    return Finding(**base, verdict=verdict, reason=reason,
                   header=("arm", "pages/s", "frames/page", "vs unbatched", "p (Holm)"),
                   rows=_gain_rows(tests, lambda a: (_num(frames[a.name]),)),
                   plots=("throughput",),
                   numbers={"frames_per_page": frames})


def host_cpu_s(data: dict) -> float | None:
    """A run record's host CPU seconds (harness/run/monitors.host_cpu_s)."""
    return monitors.host_cpu_s(data.get("deltas", {}))


def host_utilization(arm: Arm) -> list[float]:
    """Host CPU cores busy during the run: CPU seconds ÷ workload wall seconds."""
    out = []
    for r in arm.passed:
        cpu, wall = host_cpu_s(r.data), r.data.get("workload_wall_s")
        if cpu is not None and wall:
            out.append(cpu / wall)
    return out


def xen_claim(arms: list[Arm]) -> Finding:
    base = dict(key="xen", title="CPU up, throughput up",
                objection="tmem trades CPU for memory: it costs more CPU than it saves.",
                reply="(Xen tmem results) CPU utilization goes up, but throughput goes up too.",
                measured="host CPU utilization (QEMU + backend CPU seconds ÷ workload wall "
                         "seconds) and workload throughput, each tmem arm against each disk "
                         "arm; guest and host CPU per swapped page and in total beside them")
    tmems = [a for a in arms if a.technique == "tmem"]
    disks = [a for a in arms if a.technique == "disk"]
    # Every pair: a tmem arm's own dilation only touches the disk it falls back to, so the
    # disk arm's class and dilation are the condition each pair's answer holds under.
    pairs = [(d, t) for t in tmems for d in disks]
    if not pairs:
        return Finding(**base, verdict=NOT_MEASURED, reason="needs tmem arms and disk arms")
    thr = holm([test(d, t) for d, t in pairs])
    cpu_p = stats.holm([stats.welch_p_ratio(host_utilization(d), host_utilization(t))
                        for d, t in pairs])
    held: dict[str, list[str]] = {}
    failed: dict[str, list[str]] = {}
    for (d, t), tt, cp in zip(pairs, thr, cpu_p):
        ud, ut = host_utilization(d), host_utilization(t)
        cpu_up = bool(ud and ut) and stats.significant(cp) and stats.amean(ut) > stats.amean(ud)
        if cpu_up and tt.better:
            held.setdefault(t.name, []).append(d.name)
        else:
            why = ("untested: n<2" if tt.p_adj is None else
                   "throughput not up" if not tt.better else "CPU not up")
            failed.setdefault(t.name, []).append(f"{d.name} ({why})")
    n_held = sum(map(len, held.values()))
    if n_held == len(pairs):
        verdict, reason = SUPPORTED, "CPU and throughput both significantly up in every pair"
    elif not n_held and all(tt.p_adj is not None for tt in thr):
        verdict, reason = REFUTED, "throughput not significantly up in any pair"
    else:
        verdict = DEPENDS
        reason = "; ".join(f"{t}: holds against {', '.join(held.get(t, [])) or 'none'}"
                           + (f", not against {', '.join(failed[t])}" if t in failed else "")
                           for t in dict.fromkeys(t.name for _d, t in pairs))
    shown = list(dict.fromkeys([d for d, _t in pairs] + [t for _d, t in pairs]))
    rows = tuple((a.name, _num(a.mean(THROUGHPUT)),
                  _num(stats.amean(u)) if (u := host_utilization(a)) else "–",
                  _num(a.mean("cpu_user_s") + a.mean("cpu_system_s")
                       if a.mean("cpu_user_s") is not None and a.mean("cpu_system_s")
                       is not None else None),
                  _num(stats.amean(h)) if (h := [v for r in a.passed
                                                 if (v := host_cpu_s(r.data)) is not None])
                  else "–",
                  _num(a.mean("guest_sys_us_per_swapped_page")),
                  _num(a.mean("host_cpu_us_per_swapped_page"))) for a in shown)
    return Finding(**base, verdict=verdict, reason=reason,
                   header=("arm", "pages/s", "host CPU cores busy", "guest CPU s",
                           "host CPU s", "guest sys µs / swapped page",
                           "host CPU µs / swapped page"),
                   rows=rows, plots=("cpu_throughput",),
                   numbers={f"{t.name} vs {d.name}": {"throughput": tt.text(),
                                                      "cpu_p_adj": cp}
                            for (d, t), tt, cp in zip(pairs, thr, cpu_p)})


FINDINGS = (four_k, synchronous, disk_access, zero_copy, batching, xen_claim)


def findings(arms: list[Arm]) -> list[Finding]:
    """Huge-page arms answer only 4K-only: every other finding compares base-page arms."""
    base = [a for a in arms if not a.thp]
    return [f(arms if f is four_k else base) for f in FINDINGS]
