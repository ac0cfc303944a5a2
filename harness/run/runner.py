"""The experiment loop: experiment → (kernel, image, accel) → one VM per run → workload
and monitors → results. The only module that knows the order of things."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from harness import proc, ui
from harness.build import images, kbuild_tree, kernels
from harness.errors import GuestBootError, TmemlabError, VMError
from harness.experiment.experiment import Experiment, Member, Run
from harness.paths import scratch_root
from harness.results.results import ResultsDir, host_identity, host_settings, project_commit
from harness.run import checks, dilation, effective, monitors
from harness.run.backend import HostBackend
from harness.run.faults import FaultInjector
from harness.run.watchdog import PauseWatchdog
from harness.run.workloads import WORKLOADS
from harness.vm import accel, console, health
from harness.vm.domain import DomainSpec, domain_xml
from harness.vm.guest import Guest, free_port
from harness.vm.leftovers import release, run_scratch, scratch_folder
from harness.vm.preflight import check as preflight_check
from harness.vm.vm import Hypervisor

# loglevel=5: KERN_WARNING and worse reach the serial console, so a WARN() survives a guest
# that dies before its dmesg is read (a normal Debian 6.1 boot prints 1 such line, 131 B).
BASE_CMDLINE = "console=ttyS0 panic=-1 loglevel=5 root=/dev/vda"


class RunFailed(TmemlabError):
    pass


@dataclass
class Prepared:
    """Everything resolved once per experiment and shared by its runs."""
    image: images.Image
    kernels: dict[str, kernels.Kernel]
    initrds: dict[str, Path]
    accel: str
    backend: HostBackend | None = None
    host: dict = field(default_factory=dict)  # provenance every run record carries
    # kernel-build trees (workloads.KernelBuild.tree → kbuild_tree.prepare's entry, meta)
    trees: dict[tuple, tuple[Path, dict]] = field(default_factory=dict)


def tmem_capable(kernel: kernels.Kernel) -> bool:
    """Frontswap without zswap: the frontswap slot is free for the project's frontend."""
    return kernel.has_option("FRONTSWAP") == "y" and kernel.has_option("ZSWAP") != "y"


def needs_backend(exp: Experiment, prep: Prepared) -> bool:
    explicit = exp.backend.get("enabled")
    if explicit is not None:
        return explicit
    members = [m.workload for r in exp.runs() if r.group for m in r.group.members]
    return bool(exp.backend) or any(tmem_capable(k) for k in prep.kernels.values()) \
        or any(pools_channel(w) for w in [w.name for w in exp.workloads] + members if w)


def pools_channel(workload: str) -> bool:
    """The workload talks to the backend over a port of its own (workloads.TmemPools)."""
    return getattr(WORKLOADS[workload], "channel", None) == "pools"


# The pools port's guest namespace: its own quota, never the frontswap guest's pages.
POOLS_QUOTA_MIB = 256


def guest_workloads(exp: Experiment) -> list[tuple[str, dict]]:
    """(workload name, params) of every guest of every run: group members may run their
    own workload, with their own params."""
    out = []
    for run in exp.runs():
        members = run.group.members if run.group else []
        out += [((m.workload or run.workload.name), m.params) for m in members] or \
            [(run.workload.name, run.workload.params)]
    return out


def image_packages(exp: Experiment) -> tuple[str, ...]:
    """The experiment's ``packages:`` and those its workloads need (KernelBuild: gcc...)."""
    needed = {p for name, _ in guest_workloads(exp)
              for p in getattr(WORKLOADS[name], "packages", ())}
    return tuple(sorted(set(exp.packages) | needed))


def prepare_trees(exp: Experiment) -> dict[tuple, tuple[Path, dict]]:
    """Each kernel-build tree the runs need, made on the host once (cached)."""
    trees = {}
    for name, params in guest_workloads(exp):
        wanted = getattr(WORKLOADS[name], "tree", None)
        if wanted is not None and wanted(params) not in trees:
            series, config, targets = wanted(params)
            ui.info(f"kernel-build tree {config}@{series}: {' '.join(targets)}")
            trees[wanted(params)] = kbuild_tree.prepare(series, config, targets)
    return trees


def prepare(exp: Experiment, hv: Hypervisor, accel_override: str | None) -> Prepared:
    with ui.step("guest image (cached by recipe hash)"):
        image, _built = images.build_image(image_packages(exp))
    resolved, initrds = {}, {}
    for choice in exp.kernels:
        if choice.key in resolved:
            continue
        ui.info(f"kernel {choice.key}")
        kernel = kernels.resolve(choice.spec, choice.config)
        resolved[choice.key] = kernel
        initrds[choice.key] = images.build_initramfs(kernel)
    first = exp.kernels[0].key
    chosen = accel.choose(accel_override or exp.guest["accel"], hv, resolved[first].vmlinuz,
                          initrds[first])
    return Prepared(image, resolved, initrds, chosen, host=host_provenance(hv, chosen),
                    trees=prepare_trees(exp))


def versions(exp: Experiment, hv: Hypervisor, prep: Prepared) -> dict:
    return {"host": host_identity(), "accel": prep.accel, **hv.versions(),
            "experiment_file": str(exp.path.resolve()), "tmemlab_commit": project_commit(),
            "image": prep.image.identity(),
            "kernels": {key: k.identity() for key, k in prep.kernels.items()}}


def host_provenance(hv: Hypervisor, accel: str) -> dict:
    """Where a run ran, in its own record: results of several machines can then be
    merged (tmemlab merge) and still be told apart, or refused when mixed."""
    return {**host_identity(), **host_settings(), "accel": accel, **hv.versions()}


def placeholder_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))


class RunContext:
    """One run's VM, guest session and scratch files; ``close()`` always tears down."""

    def __init__(self, exp: Experiment, run: Run, prep: Prepared, hv: Hypervisor,
                 scratch: Path, member: Member | None = None):
        self.exp, self.run, self.prep, self.hv = exp, run, prep, hv
        self.member = member  # one guest of a group run (harness/run/group.py), else None
        # Short names: the tmem socket path must fit AF_UNIX's 108 bytes.
        self.work = Path(tempfile.mkdtemp(prefix="r", dir=scratch))
        # Domain and backend guest name: '+' (label separator) is not allowed by the backend.
        suffix = f".g{member.index}" if member is not None else ""
        self.name = f"tmemlab-{os.getpid()}-{run.run_id}".replace("+", ".")[:52] + suffix
        self.pools_name = self.name + ".pools"
        # A group's guests are recorded one run each: <label>.g<i>-i<iteration>.
        self.label = run.label + suffix
        self.run_id = f"{self.label}-i{run.iteration}"
        self.console_log = self.work / "console.log"
        self.guest: Guest | None = None
        self.dom = None
        self.watchdog: PauseWatchdog | None = None

    def domain_spec(self) -> DomainSpec:
        kernel = self.prep.kernels[self.run.kernel.key]
        root = self.work / "root.qcow2"
        proc.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                  "-b", self.prep.image.root, root])
        if self.prep.backend is not None:
            quota = self.member.quota_mib if self.member is not None else None
            self.prep.backend.add_guest(
                self.name, self.work / "tmem.sock", swap_mib=self.swap_mib(),  # default quota
                max_pages=None if quota is None else quota << 8,
                weight=self.member.weight if self.member is not None else None)
        else:
            # The channel's socket must exist for libvirt to accept the domain; a bound,
            # never-listening socket refuses QEMU, which retries each second.
            placeholder_socket(self.work / "tmem.sock")
        pools = None
        if pools_channel(self.workload_name()) and self.prep.backend is not None:
            pools = self.work / "pools.sock"
            self.prep.backend.add_guest(self.pools_name, pools, swap_mib=POOLS_QUOTA_MIB)
        swap = None
        if self.swap_mib() > 0:
            swap = self.work / "swap.raw"
            with open(swap, "wb") as f:
                f.truncate(self.swap_mib() << 20)
        tree = self.tree()
        return DomainSpec(
            name=self.name, accel=self.prep.accel, memory_mib=self.memory_mib(),
            vcpus=self.vcpus(), kernel=kernel.vmlinuz,
            initrd=self.prep.initrds[self.run.kernel.key],
            cmdline=self.domain_cmdline(),
            root_disk=root, swap_disk=swap, console_log=self.console_log,
            tmem_socket=self.work / "tmem.sock", ssh_port=free_port(),
            swap_iotune=self.iotune(), swap_cache=self.exp.swap["cache"], pools_socket=pools,
            data_disk=tree[0] / kbuild_tree.IMAGE if tree else None)

    def tree(self) -> tuple[Path, dict] | None:
        """The kernel-build tree (cache entry, meta) this guest's workload builds in."""
        wanted = getattr(WORKLOADS[self.workload_name()], "tree", None)
        return self.prep.trees[wanted(self.params())] if wanted else None

    def domain_cmdline(self) -> str:
        """The whole kernel command line the guest boots with."""
        return f"{BASE_CMDLINE} {self.run.kernel.cmdline}".strip()

    def memory_mib(self) -> int:
        for override in (self.member and self.member.memory_mib, self.run.kernel.memory_mib):
            if override:
                return override
        return self.exp.guest["memory_mib"]

    def workload_name(self) -> str:
        """The workload this guest runs (a group member may run its own)."""
        return (self.member and self.member.workload) or self.run.workload.name

    def params(self) -> dict:
        """The workload's params for this guest (a group member's merged over them)."""
        return self.member.params if self.member is not None else self.run.workload.params

    def swap_mib(self) -> int:
        override = self.run.kernel.swap_mib
        return self.exp.swap["size_mib"] if override is None else override

    def vcpus(self) -> int:
        return self.run.kernel.vcpus or self.exp.guest["vcpus"]

    def iotune(self) -> dict:
        """The swap disk's limits as the experiment asks (before any dilation)."""
        override = self.run.kernel.iotune
        return self.exp.swap["iotune"] if override is None else override

    def iotune_scale(self) -> str | float:
        override = self.run.kernel.iotune_scale
        return self.exp.swap["iotune_scale"] if override is None else override

    def boot(self) -> float:
        """Start the domain and wait for its SSH; seconds from start to connected."""
        return self.connect(self.start())

    def start(self) -> float:
        """Create the domain (quickly: no waiting for the guest); returns when it began."""
        spec = self.domain_spec()
        start = time.monotonic()
        self.dom = self.hv.start(domain_xml(spec), self.name)
        # A guest that QEMU pauses (ENOSPC on a disk file) fails the run at once.
        self.watchdog = PauseWatchdog(self.dom, on_stop=self._abort_ssh)
        self.watchdog.start()
        self.guest = Guest(self.name, spec.ssh_port, self.prep.image.key,
                           self.prep.image.host_key)
        return start

    def connect(self, start: float) -> float:
        """Wait for the started guest's SSH (boot_timeout_s from ``start``)."""
        deadline = start + self.exp.guest["boot_timeout_s"]
        try:
            connected = self.guest.connect(deadline, alive=self._domain_alive)
        except GuestBootError as err:
            err.reason = self.stopped() or err.reason
            err.console_tail = console.tail(self.console_log)
            raise
        return connected - start

    def _domain_alive(self) -> bool:
        try:
            return bool(self.dom.isActive()) and not self.stopped()
        except Exception:
            return False

    def stopped(self) -> str | None:
        """Why QEMU paused the guest (watchdog.py), or None while it runs."""
        return self.watchdog.reason if self.watchdog is not None else None

    def _abort_ssh(self, _reason: str) -> None:
        """Ends every wait on the guest's SSH session (the workload's among them)."""
        transport = self.guest.client.get_transport() if self.guest and self.guest.client \
            else None
        if transport is not None:
            transport.close()

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.guest is not None:
            self.guest.close()
        self.hv.destroy(self.name)
        if self.prep.backend is not None:
            self.prep.backend.remove_guest(self.name)
            if pools_channel(self.workload_name()):
                self.prep.backend.remove_guest(self.pools_name)
        shutil.rmtree(self.work, ignore_errors=True)


# Linux turns THP off at boot below 512 MiB of RAM (mm/huge_memory.c hugepage_init(),
# whatever transparent_hugepage= says) and leaves it to the admin through sysfs: a workload
# that asks for huge pages gets madvise mode, which serves only MADV_HUGEPAGE regions.
THP_ENABLE = ("f=/sys/kernel/mm/transparent_hugepage/enabled; "
              "if [ -w $f ] && grep -q '\\[never\\]' $f; then echo madvise > $f; fi")


def workload_settings(ctx: RunContext) -> None:
    """Guest settings a workload's parameters need, applied before they are read back."""
    if ctx.params().get("thp"):
        ctx.guest.run(THP_ENABLE, timeout=30)


def verify_settings(ctx: RunContext, record: dict) -> None:
    """Read every setting that shapes the run back from the guest (harness/run/effective.py);
    record them, and fail the run before its workload when one is not in effect."""
    cmdline = ctx.domain_cmdline()
    script = effective.readback_script(cmdline)
    _status, out, _err = ctx.guest.run(script, timeout=60)
    facts = effective.parse_readback(out)
    kernel = ctx.prep.kernels[ctx.run.kernel.key]
    wanted = effective.requested(cmdline, kernel.has_option, ctx.swap_mib(),
                                 ctx.params(), vcpus=ctx.vcpus())
    settings = effective.verify(wanted, facts)
    record["guest"].update(facts)
    for module in ("zswap", "tmem"):   # what the frontends ran with, whether asked or not
        record["guest"][f"{module}_parameters"] = {
            k.split(".", 1)[1]: v for k, v in facts["params"].items()
            if k.startswith(module + ".")}
    record["settings"] = {s.name: s.to_json() for s in settings}
    wrong = effective.mismatches(settings)
    if wrong:
        raise RunFailed("setting not in effect: " + "; ".join(str(s) for s in wrong))


def new_record(ctx: RunContext) -> dict:
    run = ctx.run
    workload = WORKLOADS[ctx.workload_name()]
    kernel = ctx.prep.kernels[run.kernel.key]
    params = ctx.params()
    return {
        "run_id": ctx.run_id, "label": ctx.label, "iteration": run.iteration,
        "status": "failed", "failure": None,
        "kernel": {**kernel.identity(), "cmdline_extra": run.kernel.cmdline,
                   "label": run.kernel.label, "allow_unused": run.kernel.allow_unused},
        "workload": {"name": ctx.workload_name(), "label": run.workload.label,
                     "params": params, "command": workload.command(params),
                     "notes": getattr(workload, "notes", lambda _p: [])(params),
                     **({"tree": ctx.tree()[1]} if ctx.tree() else {})},
        "guest": {"memory_mib": ctx.memory_mib(), "vcpus": ctx.vcpus(),
                  "swap_mib": ctx.swap_mib(), "swap_iotune": ctx.iotune(),
                  "accel": ctx.prep.accel},
        "host": ctx.prep.host,
        **({"group_member": {"index": ctx.member.index, "group_run_id": run.run_id}}
           if ctx.member is not None else {}),
    }


def closing_counters(ctx: RunContext, rows: list[dict]) -> dict[str, int]:
    """The guest's frontswap counters once more, after the backend's final sample."""
    try:
        status, out, _err = ctx.guest.run(monitors.closing_script(), timeout=30)
    except Exception:  # a guest that died with the workload: the run fails elsewhere
        return {}
    return monitors.parse_closing(out, rows) if status == 0 else {}


def dilate(ctx: RunContext, record: dict) -> None:
    """Measure the guest's CPU slowdown (harness/run/dilation.py); when the run asks for it,
    divide the live swap disk's limits by it before the workload starts, and record the
    limits in effect (read back from libvirt) beside those asked for."""
    try:
        record["dilation"] = dilation.measure(ctx.guest, ctx.prep.image.tools)
        divisor = dilation.scale_for(ctx.iotune_scale(), ctx.prep.accel,
                                     record["dilation"]["factor"])
        asked = ctx.iotune()
        if not (asked and ctx.swap_mib() > 0):
            divisor = 1.0  # no disk or no limits: nothing was dilated, none is recorded
        record["guest"]["swap_iotune_requested"] = asked
        record["guest"]["swap_iotune_scale"] = {"setting": ctx.iotune_scale(),
                                                "divisor": round(divisor, 3)}
        if divisor != 1.0:
            record["guest"]["swap_iotune"] = dilation.apply(ctx.dom,
                                                            dilation.scaled(asked, divisor))
    except dilation.DilationError as err:
        raise RunFailed(str(err)) from err


def bring_up(ctx: RunContext, record: dict, status_cb) -> None:
    """Boot, apply and read back the settings, measure the CPU slowdown."""
    status_cb("booting")
    record["boot_seconds"] = round(ctx.boot(), 2)
    settle(ctx, record, status_cb)


def settle(ctx: RunContext, record: dict, status_cb) -> None:
    """A booted guest's settings applied and verified, its slowdown measured."""
    workload_settings(ctx)
    verify_settings(ctx, record)
    status_cb("measuring CPU slowdown")
    dilate(ctx, record)


def start_monitor(ctx: RunContext) -> monitors.Monitor:
    backend = ctx.prep.backend
    extra = {"harness": lambda: monitors.host_harness(ctx.work.parent)}
    if backend is not None:
        extra["backend"] = lambda: backend.sample(ctx.name)
    monitor = monitors.Monitor(ctx.guest.stream(monitors.sampler_command()), ctx.dom,
                               ctx.hv.pid(ctx.name), extra)
    monitor.start()
    return monitor


def stage_files(ctx: RunContext, record: dict) -> None:
    """Copy the workload's files into the guest (Command.staged), each recorded with its
    size and sha256; a file that cannot be copied fails the run naming it."""
    workload = WORKLOADS[ctx.workload_name()]
    staged = getattr(workload, "staged", lambda _p: [])(record["workload"]["params"])
    done = []
    for host, guest in staged:
        data = Path(host).read_bytes()
        parent = guest.rsplit("/", 1)[0] or "/"
        try:
            status, _out, err = ctx.guest.run(f"mkdir -p {shlex.quote(parent)}", timeout=60)
            if status != 0:
                raise OSError(f"mkdir -p {parent} exited {status}: {err.strip()[-200:]}")
            # 60 s plus 1 s per MiB: the SSH channel is slow under TCG
            ctx.guest.put(data, guest, timeout=60 + len(data) / (1 << 20))
        except (OSError, TimeoutError) as err:
            raise RunFailed(f"files: copying {host} to {guest}: {err}") from err
        done.append({"host": host, "guest": guest, "bytes": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()})
    if done:
        record["workload"]["staged"] = done


def run_workload(ctx: RunContext, record: dict) -> tuple[int, str, str]:
    """The workload's (status, stdout, stderr); its host wall time goes in the record."""
    timeout = ctx.run.workload.timeout_s
    stage_files(ctx, record)
    started = time.monotonic()
    record["workload_started_wall"] = round(time.time(), 3)
    try:
        return ctx.guest.run(record["workload"]["command"], timeout=timeout)
    except TimeoutError as exc:
        raise RunFailed(ctx.stopped() or f"workload timeout after {timeout} s") from exc
    finally:
        record["workload_wall_s"] = round(time.monotonic() - started, 2)


def stop_monitor(ctx: RunContext, record: dict, monitor: monitors.Monitor) -> None:
    time.sleep(1.2)  # one sample after the workload
    monitor.stop()
    record["series_rows"] = monitor.rows
    if ctx.prep.backend is not None:
        record["closing"] = closing_counters(ctx, monitor.rows)


def judge_workload(ctx: RunContext, record: dict, monitor: monitors.Monitor,
                   outcome: tuple[int, str, str]) -> None:
    """Parse the workload's output, add the backend's view and the checks; raises
    RunFailed when the workload, a check or the watchdog says the run failed."""
    if ctx.stopped():  # the watchdog cut the workload's wait short
        raise RunFailed(ctx.stopped())
    status, out, err = outcome
    workload = WORKLOADS[ctx.workload_name()]
    result, failure = workload.parse(status, out, err, record["workload"]["params"])
    record["deltas"], record["summary"] = monitors.summarize(monitor.rows, monitor.missed)
    backend = ctx.prep.backend
    if backend is not None:
        try:
            record["backend"] = {"options": backend.options,
                                 "guest": backend.guest_stats(ctx.name)}
            if pools_channel(ctx.workload_name()):
                record["backend"]["pools_guest"] = backend.guest_stats(ctx.pools_name)
        except Exception as exc:  # the backend may be down after a fault test
            record["backend"] = {"options": backend.options, "error": str(exc)}
    record["result"] = result
    record["workload_stderr_tail"] = "\n".join(err.strip().splitlines()[-10:])
    record["oom_killed"] = console.oom_kills(ctx.console_log)
    record["checks"] = checks.evaluate(record)
    # Kernel failures (console and dmesg) are judged by judge_kernel_log, after this.
    if failure and console.oom_kills(ctx.console_log):
        failure += f" (guest OOM killer killed: {', '.join(console.oom_kills(ctx.console_log))})"
    elif not failure and checks.failures(record["checks"]):
        failure = "check failed: " + "; ".join(checks.failures(record["checks"]))
    if failure:
        raise RunFailed(failure)
    record["status"] = "passed"


def execute_run(ctx: RunContext, record: dict, status_cb) -> None:
    """Boot, sample, run the workload; fills ``record`` as it goes, raises on failure."""
    bring_up(ctx, record, status_cb)
    monitor = start_monitor(ctx)
    time.sleep(1.5)  # a baseline sample before the workload starts
    status_cb(f"{ctx.run.workload.name} running")
    injector = None
    if ctx.exp.faults:
        injector = FaultInjector(ctx.exp.faults, ctx.prep.backend, ctx.guest)
        injector.start()
    try:
        outcome = run_workload(ctx, record)
    finally:
        if injector is not None:
            injector.cancel()
            record["faults"] = injector.events
        stop_monitor(ctx, record, monitor)
    judge_workload(ctx, record, monitor, outcome)


def failure_of(ctx: RunContext, err: BaseException) -> dict:
    """The record's ``failure`` for an exception that ended a run."""
    reason = str(err) or type(err).__name__
    if isinstance(err, (paramiko.SSHException, EOFError, ConnectionError)):
        reason = f"SSH connection lost: {reason}"
    reason = ctx.stopped() or reason  # a paused guest explains a lost session
    return {"reason": reason, "console_tail": console.tail(ctx.console_log)}


RUN_ERRORS = (RunFailed, GuestBootError, VMError, paramiko.SSHException, EOFError, OSError)


DMESG_TIMEOUT_S = 10


def judge_kernel_log(ctx: RunContext, record: dict, results: ResultsDir) -> None:
    """Scan the run's kernel log (harness/vm/health.py): the console, and ``dmesg`` read
    now while the guest still answers (saved beside the console log). A fatal line fails
    the run with that line as its reason; whatever failed before it follows it."""
    logs = {"console": console.read(ctx.console_log)}
    if ctx.guest is not None and ctx.guest.alive() and ctx._domain_alive():
        try:
            logs["dmesg"] = ctx.guest.dmesg(timeout=DMESG_TIMEOUT_S)
            results.save_dmesg(ctx.run_id, logs["dmesg"])
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as exc:
            record["dmesg_error"] = str(exc) or type(exc).__name__
    record["kernel_log"] = health.settle(health.assess(logs, ctx.prep.accel),
                                         record.get("settings", {}))
    reason = health.failure(record["kernel_log"])
    if reason:
        earlier = (record.get("failure") or {}).get("reason")
        record["status"] = "failed"
        record["failure"] = {"reason": f"{reason}; then {earlier}" if earlier else reason,
                             "console_tail": console.tail(ctx.console_log)}


def run_one(ctx: RunContext, results: ResultsDir, status_cb) -> dict:
    """One run, start to teardown. A failure is recorded (with the console tail) and
    returned, never raised: the experiment goes on with the next run."""
    record = new_record(ctx)
    try:
        execute_run(ctx, record, status_cb)
    except RUN_ERRORS as err:
        record["status"] = "failed"
        record["failure"] = failure_of(ctx, err)
    finally:
        finish(ctx, record, results)
    return record


def finish(ctx: RunContext, record: dict, results: ResultsDir) -> None:
    """Judge the kernel log, tear down, write the record and its series."""
    teardown(ctx, record, results)
    write(ctx, record, results)


def teardown(ctx: RunContext, record: dict, results: ResultsDir) -> None:
    """Judge the kernel log (the guest must still answer) and destroy the guest."""
    try:
        judge_kernel_log(ctx, record, results)
        results.save_console(ctx.run_id, ctx.console_log)
    finally:
        ctx.close()


def write(ctx: RunContext, record: dict, results: ResultsDir) -> None:
    rows = record.pop("series_rows", [])
    results.write_series(ctx.run_id, rows)
    results.write_run(record)


def run_experiment(exp: Experiment, results_root: Path, accel_override: str | None = None,
                   libvirt_uri: str | None = None, runs: list[Run] | None = None,
                   resume: Path | None = None) -> tuple[ResultsDir, list[dict]]:
    """Run ``runs`` (default: every run of ``exp``) into a new results folder under
    ``results_root``, or into ``resume`` (an earlier folder of the same experiment);
    domains are destroyed whatever happens."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    scratch_facts = preflight_check(exp, scratch_root())
    records: list[dict] = []
    runs = exp.runs() if runs is None else runs
    with Hypervisor(libvirt_uri or exp.libvirt_uri) as hv:
        prep = prepare(exp, hv, accel_override)
        # Only now: a mistake found before this point leaves no empty results folder.
        results = ResultsDir(results_root, exp.name, existing=resume)
        if resume is None:  # a resumed folder keeps the first invocation's
            results.write_experiment(exp.resolved())
            results.write_versions({**versions(exp, hv, prep),
                                    "scratch": scratch_facts.to_json()})
        scratch = run_scratch()  # owner recorded: a dead run's is reclaimed
        columns = (TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                   TextColumn("{task.fields[phase]}"))
        try:
            start_backend(exp, prep, scratch)  # in the try: a failed start leaves no scratch
            with Progress(*columns, console=ui.console) as progress:
                task = progress.add_task(exp.name, total=len(runs), phase="")
                for run in runs:
                    def phase(text: str, run=run) -> None:
                        progress.update(task, phase=f"{run.run_id}: {text}")
                    if run.group is not None:
                        from harness.run.group import run_group  # it imports this module
                        ctxs = [RunContext(exp, run, prep, hv, scratch, m)
                                for m in run.group.members]
                        group = run_group(ctxs, results, phase)
                        records.extend(group)
                        record = group[-1]
                    else:
                        record = run_one(RunContext(exp, run, prep, hv, scratch), results, phase)
                        records.append(record)
                    mark = "[green]passed[/]" if record["status"] == "passed" else \
                        f"[red]FAILED[/] ({record['failure']['reason']})"
                    progress.console.print(f"{run.run_id}: {mark}")
                    progress.advance(task)
        finally:
            if prep.backend is not None:
                prep.backend.stop()
            log = scratch / "backend" / "backend.log"
            if log.exists():  # also from a failed start; appended to when resumed
                with open(results.path / "backend.log", "ab") as dest:
                    dest.write(log.read_bytes())
            release(scratch)
    return results, records


def prepare_only(exp: Experiment, accel_override: str | None = None,
                 libvirt_uri: str | None = None) -> Prepared:
    """Build (or find cached) the image, every kernel and initramfs of ``exp`` and probe
    the accelerator, running nothing: a CI build stage that warms a runner's cache."""
    preflight_check(exp, scratch_root())
    with Hypervisor(libvirt_uri or exp.libvirt_uri) as hv:
        return prepare(exp, hv, accel_override)


def start_backend(exp: Experiment, prep: Prepared, scratch: Path) -> None:
    """One host tmem backend serves every guest of the experiment, when it is needed."""
    if not needs_backend(exp, prep):
        return
    backend = HostBackend(exp.backend, scratch / "backend")
    with ui.step(f"start tmem backend ({' '.join(backend.argv()[3:])}; {backend.bounds()})"):
        backend.start()
    prep.backend = backend


def boot_and_run(exp: Experiment, command: str, accel_override: str | None,
                 libvirt_uri: str | None, timeout: int) -> tuple[int, str, str]:
    """Boot the experiment's first run's guest, run ``command``, tear down."""
    return boot_and_use(exp, lambda ctx: ctx.guest.run(command, timeout=timeout),
                        accel_override, libvirt_uri)


def boot_and_use(exp: Experiment, use, accel_override: str | None,
                 libvirt_uri: str | None):
    """Boot the experiment's first run's guest (with the tmem backend when its kernel
    needs one), return ``use(ctx)``, tear everything down whatever happens."""
    run = exp.runs()[0]
    preflight_check(exp, scratch_root())
    with Hypervisor(libvirt_uri) as hv, scratch_folder() as scratch:
        prep = prepare(exp, hv, accel_override)
        start_backend(exp, prep, scratch)
        ctx = RunContext(exp, run, prep, hv, scratch)
        try:
            with ui.step(f"boot {run.kernel.spec}"):
                ctx.boot()
            result = use(ctx)
            if ctx.stopped():
                raise RunFailed(ctx.stopped())
            return result
        except GuestBootError as err:
            reason = f"{err.reason}; console tail:\n{err.console_tail}"
            raise GuestBootError(err.name, reason) from err
        finally:
            ctx.close()
            if prep.backend is not None:
                prep.backend.stop()
