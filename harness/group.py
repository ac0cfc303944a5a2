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
delays differ). The first guest that fails ends the others' waits: any failure fails the
group, and every domain is destroyed whatever happens.
"""

from __future__ import annotations

import threading
import time

from harness import ui
from harness.group_aggregate import group_record
from harness.results import ResultsDir
from harness.runner import (
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

# A guest's wait for its start delay wakes this often to see whether the group failed.
POLL_S = 0.5


class _Abort:
    """The group's first failure: who failed and why; later failures only add to it."""

    def __init__(self, ctxs: list[RunContext]):
        self.ctxs, self.lock, self.event = ctxs, threading.Lock(), threading.Event()
        self.first: str | None = None

    def fail(self, ctx: RunContext, record: dict, err: BaseException) -> None:
        record["status"] = "failed"
        record["failure"] = failure_of(ctx, err)
        with self.lock:
            if self.first is None:
                self.first = f"guest {ctx.label} failed: {record['failure']['reason']}"
                self.event.set()
                for other in self.ctxs:  # end every other guest's wait at once
                    if other is not ctx:
                        other._abort_ssh("group failed")


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

        def boot(i, ctx):
            try:
                records[i]["boot_seconds"] = round(ctx.boot(), 2)
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

            def work(i, ctx):
                delay = ctx.member.start_delay_s
                while time.monotonic() < go + delay:
                    if abort.event.wait(min(POLL_S, go + delay - time.monotonic())):
                        return
                try:
                    outcomes[i] = run_workload(ctx, records[i])
                except RUN_ERRORS as err:
                    abort.fail(ctx, records[i], err)
            _in_threads(ctxs, work)
            for i, ctx in enumerate(ctxs):
                stop_monitor(ctx, records[i], monitors[i])
            for i, ctx in enumerate(ctxs):
                if records[i]["status"] == "failed" or outcomes[i] is None:
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
    for record in records:  # a member that did not fail itself fails with its group
        if record["status"] != "failed" and (abort.first or any(
                r["status"] == "failed" for r in records)):
            record["status"] = "failed"
            record["failure"] = {"reason": f"group failed: {abort.first or 'a guest failed'}",
                                 "console_tail": ""}
    group, rows = group_record(ctxs, records, started)
    for ctx, record in zip(ctxs, records):
        write(ctx, record, results)
    results.write_run(group)
    results.write_series(group["run_id"], rows)
    return records + [group]
