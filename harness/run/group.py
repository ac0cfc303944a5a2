"""Group runs: N guests booted, run and torn down together against one host backend.

A group run is one run of the experiment (one arm × iteration) whose guests share the
backend's host pool (issue: many guests, one host pool). Each guest is recorded as a run
of its own (``<label>.g<i>-i<iteration>``, the single-guest record), and the group as one
more record under the arm's own label: aggregate throughput, Jain's fairness index, each
guest's share of the host pool and the host memory the group used (aggregate.py).

Order: every guest boots at once (threads; boot is mostly waiting), then each is settled
in turn (settings read back, CPU slowdown measured: one guest at a time, so the
microbenchmark does not time its neighbours), every monitor starts, and each workload
starts at its member's ``start_delay_s`` after the first (a phase-shifted mix when the
delays differ), or, with ``after_previous``, that long after the previous guest's workload
ended (peaks that cannot overlap, however slow the guests run). The first guest that fails
ends the others' waits: any failure fails the group, and every domain is destroyed
whatever happens.
"""

from __future__ import annotations

import threading
import time

from harness import ui
from harness.results.group_aggregate import group_record
from harness.results.results import ResultsDir
from harness.run.runner import (
    RUN_ERRORS,
    RunContext,
    failure_of,
    judge_workload,
    new_record,
    run_workload,
    settle,
    start_monitor,
    stop_monitor,
    teardown,
    write,
)
from harness.run.workloads import WORKLOADS
from harness.vm import console

# A guest's wait for its start delay wakes this often to see whether the group failed.
POLL_S = 0.5


class _Abort:
    """The group's first failure: who failed and why. Every other guest's wait is ended
    at once, and a guest cut short that way fails as "group failed: <the first>"."""

    def __init__(self, ctxs: list[RunContext]):
        self.ctxs, self.lock, self.event = ctxs, threading.Lock(), threading.Event()
        self.first: str | None = None
        self.who: RunContext | None = None

    def cut(self, ctx: RunContext, reason: str) -> None:
        """``ctx`` failed: stop the others (its own record is filled by whoever called)."""
        with self.lock:
            if self.first is not None:
                return
            self.first, self.who = f"guest {ctx.label} failed: {reason}", ctx
            self.event.set()
        for other in self.ctxs:
            if other is not ctx:
                other._abort_ssh("group failed")

    def fail(self, ctx: RunContext, record: dict, err: BaseException) -> None:
        with self.lock:
            cut_short = self.first is not None and self.who is not ctx
        if cut_short:
            _fails_with_group(ctx, record, self.first)
            return
        record["status"] = "failed"
        record["failure"] = failure_of(ctx, err)
        self.cut(ctx, record["failure"]["reason"])


def _fails_with_group(ctx: RunContext, record: dict, first: str) -> None:
    """A guest that did not fail itself fails with its group, naming the first failure."""
    record["status"] = "failed"
    record["failure"] = {"reason": f"group failed: {first}",
                         "console_tail": console.tail(ctx.console_log)}


def _in_threads(ctxs: list[RunContext], target) -> None:
    threads = [threading.Thread(target=target, args=(i, ctx), daemon=True,
                                name=f"group-{ctx.label}") for i, ctx in enumerate(ctxs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_group(ctxs: list[RunContext], results: ResultsDir, status_cb) -> list[dict]:
    """Run one group; returns the member records and then the group record (all
    written). A failure is recorded, never raised, as ``run_one`` does."""
    records = [new_record(ctx) for ctx in ctxs]
    abort = _Abort(ctxs)
    monitors: list = [None] * len(ctxs)
    outcomes: list = [None] * len(ctxs)
    started = time.time()
    try:
        status_cb(f"booting {len(ctxs)} guests")

        # Domains are created one at a time (backend namespaces, SSH ports, libvirt calls
        # from one thread); the guests then boot together and each is waited for.
        starts: list = [None] * len(ctxs)
        for i, ctx in enumerate(ctxs):
            try:
                starts[i] = ctx.start()
            except RUN_ERRORS as err:
                abort.fail(ctx, records[i], err)
                break

        def boot(i, ctx):
            if starts[i] is None:
                return
            try:
                records[i]["boot_seconds"] = round(ctx.connect(starts[i]), 2)
            except RUN_ERRORS as err:
                abort.fail(ctx, records[i], err)
        _in_threads(ctxs, boot)
        for i, ctx in enumerate(ctxs):  # one at a time: the slowdown is measured alone
            if abort.event.is_set():
                break
            try:
                settle(ctx, records[i], lambda text, c=ctx: status_cb(f"{c.label}: {text}"))
            except RUN_ERRORS as err:
                abort.fail(ctx, records[i], err)
        if not abort.event.is_set():
            for i, ctx in enumerate(ctxs):
                monitors[i] = start_monitor(ctx)
            time.sleep(1.5)  # a baseline sample before the first workload starts
            status_cb(f"{ctxs[0].run.workload.name} running on {len(ctxs)} guests")
            go = time.monotonic()
            ended = [threading.Event() for _ in ctxs]

            def work(i, ctx):
                try:
                    _work(i, ctx)
                finally:
                    ended[i].set()

            def _work(i, ctx):
                start = go
                if ctx.member.after_previous:
                    while not ended[i - 1].wait(POLL_S):
                        if abort.event.is_set():
                            return
                    start = time.monotonic()
                delay = ctx.member.start_delay_s
                while time.monotonic() < start + delay:
                    if abort.event.wait(min(POLL_S, start + delay - time.monotonic())):
                        return
                if abort.event.is_set():
                    return
                try:
                    outcomes[i] = run_workload(ctx, records[i])
                except RUN_ERRORS as err:
                    abort.fail(ctx, records[i], err)
                    return
                # A workload that failed stops the others now; its record is judged
                # (console, checks) with theirs once every workload has ended.
                _result, failure = WORKLOADS[ctx.workload_name()].parse(*outcomes[i])
                if failure:
                    abort.cut(ctx, failure)
            _in_threads(ctxs, work)
            for i, ctx in enumerate(ctxs):
                stop_monitor(ctx, records[i], monitors[i])
            for i, ctx in enumerate(ctxs):
                if records[i]["failure"] is not None or outcomes[i] is None:
                    continue
                try:
                    judge_workload(ctx, records[i], monitors[i], outcomes[i])
                except RUN_ERRORS as err:
                    abort.fail(ctx, records[i], err)
    except BaseException:
        for ctx in ctxs:  # an interrupted group: nothing of it keeps running
            ctx._abort_ssh("interrupted")
        raise
    finally:
        for i, ctx in enumerate(ctxs):
            if monitors[i] is not None and monitors[i].is_alive():
                monitors[i].stop()
            try:
                teardown(ctx, records[i], results)
            except Exception as exc:  # one guest's teardown must not leave the others up
                ui.warn(f"{ctx.label}: teardown: {exc}")
    failed = abort.first or next((f"guest {r['label']} failed: {r['failure']['reason']}"
                                  for r in records if r["failure"]), None)
    for ctx, record in zip(ctxs, records):
        if failed and record["failure"] is None:
            _fails_with_group(ctx, record, failed)
    group, rows = group_record(ctxs, records, started)
    for ctx, record in zip(ctxs, records):
        write(ctx, record, results)
    results.write_run(group)
    results.write_series(group["run_id"], rows)
    return records + [group]
