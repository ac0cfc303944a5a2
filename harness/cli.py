"""The ``tmemlab`` command. The one place that talks to the user: parses arguments,
prints, and turns typed errors into one-line messages and exit codes."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from pathlib import Path

import shtab
import yaml
from rich.markup import escape

from harness import interrupt, ui
from harness.errors import TmemlabError, UsageError
from harness.paths import PROJECT_ROOT

EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_CODES = """exit codes (git bisect run friendly; README: Exit codes):
  0    every run passed (compare: no regression)
  1    a run failed, a page was corrupted, or compare --fail-on-regression found one
  2    bad input: experiment file, arguments, host set-up (nothing was run)
  125  a kernel or image could not be fetched or built: this commit cannot be tested
  130  interrupted (SIGINT/SIGTERM/SIGHUP); everything was cleaned up"""


def _selected(args, exp) -> tuple[list, dict[str, str]]:
    """The runs this invocation does (--shard, then --only, then --resume's skip) and,
    when resuming, the statuses already recorded."""
    from harness.experiment import selection

    runs = exp.runs()
    if args.shard:
        runs = selection.shard(runs, *selection.parse_shard(args.shard))
    if args.only:
        runs = selection.only(runs, args.only)
    status: dict[str, str] = {}
    if args.resume:
        selection.check_resumable(exp, Path(args.resume))
        status = selection.recorded_status(Path(args.resume))
        runs = selection.pending(runs, status)
    return runs, status


def _describe(run) -> str:
    starts = [f"{m.start_delay_s:g} s after g{m.index - 1} ended" if m.after_previous
              else f"{m.start_delay_s:g} s" for m in (run.group.members if run.group else [])]
    group = "" if run.group is None else (
        f" (group of {run.group.guests}, workloads start at {', '.join(starts)})")
    return (f"{run.run_id}: {run.kernel.spec} [{run.kernel.cmdline}] "
            f"{run.workload.name} {run.workload.params}{group}")


def _cmd_run(args) -> int:
    from harness.experiment import experiment, selection
    from harness.run import runner

    if args.experiment is None and args.resume is None:
        raise UsageError("run: name an EXPERIMENT file (or --resume RESULTS_DIR)")
    path = Path(args.experiment) if args.experiment else \
        selection.source_of(Path(args.resume))
    exp = experiment.load(path)
    if args.iterations is not None:
        if args.iterations < 1:
            raise UsageError("--iterations must be at least 1")
        exp.iterations = args.iterations
    runs, done = _selected(args, exp)
    if args.list:
        if args.json:
            _print_json([{"run_id": r.run_id, "label": r.label, "iteration": r.iteration,
                          "kernel": r.kernel.spec, "workload": r.workload.name,
                          "guests": 1 if r.group is None else r.group.guests}
                         for r in runs])
        else:
            print("\n".join(r.run_id for r in runs))
        return 0
    # Set-up mistakes end here (exit 2), before a results folder, guest or backend exists;
    # a dry run checks exactly what a real run would.
    from harness.paths import scratch_root
    from harness.vm.preflight import check as preflight_check
    scratch = preflight_check(exp, scratch_root())
    if args.prepare_only:
        _reclaim()
        prep = runner.prepare_only(exp, args.accel, args.libvirt_uri)
        if args.json:
            _print_json({"experiment": exp.name, "accel": prep.accel,
                         "image": prep.image.identity(),
                         "kernels": {k: v.identity() for k, v in prep.kernels.items()}})
        return 0
    if args.dry_run:
        for run in runs:
            ui.console.print(_describe(run), markup=False, highlight=False)
        ui.console.print(f"scratch {scratch.path}: {scratch.fstype}, "
                         f"{scratch.free_bytes >> 20} MiB free, "
                         f"{scratch.needed_bytes >> 20} MiB needed", markup=False,
                         highlight=False)
        return 0
    if args.resume:
        passed = sum(1 for s in done.values() if s == "passed")
        ui.console.print(f"resuming {args.resume}: {passed} runs recorded as passed, "
                         f"{len(runs)} to run")
    if not runs:
        raise UsageError(f"{args.resume}: every selected run is recorded as passed; "
                         "nothing to resume") if args.resume else \
            UsageError("no run selected")
    _reclaim()  # only now: a mistake above is one line and exit 2, with nothing else
    start = time.monotonic()
    results, records = runner.run_experiment(
        exp, Path(args.results), args.accel, args.libvirt_uri, runs=runs,
        resume=Path(args.resume) if args.resume else None)
    title = f"{exp.name}: {len(records)} runs in {time.monotonic() - start:.0f} s"
    if args.resume:  # the summary, the verdict and --json speak for the whole folder
        records = selection.records(results.path)
        title += f" (resumed; {len(records)} recorded)"
    return _report(exp.name, results.path, records, title, args.json)


def _report(name: str, path: Path, records: list[dict], title: str, as_json: bool) -> int:
    """Summary table and summary.md, the comparison (and the many-guests report), the
    exit code from the records; with ``as_json`` the same on stdout as one document."""
    from harness.results import summary

    ui.console.print(summary.rich_table(records, title))
    summary.write(records, title, path / "summary.md")
    _compare(path)
    if any(r.get("kind") == "group" for r in records):
        _overcommit(path, path)
    ui.console.print(f"results: {path}")
    code = 0 if all(r["status"] == "passed" for r in records) else EXIT_RUN_FAILED
    if as_json:
        _print_json({"experiment": name, "results": str(path),
                     "exit_code": code, "passed": code == 0,
                     "runs": [{"run_id": r["run_id"], "status": r["status"],
                               "kind": r.get("kind", "run"),
                               "host": (r.get("host") or {}).get("hostname"),
                               "failure": (r.get("failure") or {}).get("reason")}
                              for r in records]})
    return code


def _cmd_merge(args) -> int:
    from harness.results import merge

    out = Path(args.out)
    records = merge.merge(out, [Path(d) for d in args.results_dirs])
    hosts = sorted({(r.get("host") or {}).get("hostname") or "?" for r in records})
    name = yaml.safe_load((out / "experiment.yaml").read_text()).get("name", out.name)
    title = (f"{name}: {len(records)} runs merged from {len(args.results_dirs)} folders "
             f"(hosts: {', '.join(hosts)})")
    return _report(name, out, records, title, args.json)


def _print_json(data) -> None:
    """Machine-readable output: stdout, one document; people's output stays on stderr."""
    print(json.dumps(data, indent=2, default=str))


def _compare(path: Path) -> None:
    """The comparison report, when that package is present; never fails the run."""
    try:
        from harness.report.compare import report_experiment
    except ImportError:
        return
    try:
        report_experiment(path, ui.console)
    except TmemlabError as err:
        ui.warn(f"comparison skipped: {err}")


def _overcommit(path: Path, out: Path) -> Path | None:
    """The overcommit report (harness/report/overcommit.py) of a folder with group runs."""
    from harness.report import overcommit

    try:
        report = overcommit.write(path, out)
    except TmemlabError as err:
        ui.warn(f"overcommit report skipped: {err}")
        return None
    for line in overcommit.headline_lines(report):
        ui.console.print(line, markup=False, highlight=False)
    ui.console.print(f"overcommit report: {report}")
    return report


def _cmd_overcommit(args) -> int:
    path = Path(args.results_dir)
    if not path.is_dir():
        raise UsageError(f"{path}: no such results folder")
    return 0 if _overcommit(path, Path(args.out) if args.out else path) else 1


def _cmd_soak_report(args) -> int:
    """Print the soak's figures (harness/report/soak_report.py), write soak.json and soak.png;
    0 when the soak holds (passed, 0 corrupted, nothing grew), 1 otherwise."""
    from rich.table import Table

    from harness.report import soak_report

    path = Path(args.results_dir)
    if not path.is_dir():
        raise UsageError(f"{path}: no such results folder")
    try:
        report, png = soak_report.write(path)
    except (ValueError, OSError, KeyError) as err:
        raise UsageError(f"{path}: not a soak results folder ({err})") from err
    ui.console.print(f"{report['run_id']}: {report['status']}"
                     + (f" ({report['failure']})" if report["failure"] else "")
                     + f", {report['hours']} h, {report['verified_pages']} page touches "
                       f"verified, {report['corrupted_pages']} corrupted", highlight=False)
    ui.console.print("faults: " + ", ".join(f"{n} × {e}" for e, n in report["faults"].items())
                     + f"; backend rows missed {report['backend_samples_missed']} of "
                       f"{report['samples']}", highlight=False)
    table = Table(title="first quarter vs last quarter of the run (maxima)")
    for column in ("series", "first quarter", "last quarter", "whole run", "rule", "bounded"):
        table.add_column(column)
    for g in report["growth"]:
        table.add_row(g["name"], f"{g['first_max']:,.0f}", f"{g['last_max']:,.0f}",
                      f"{g['overall_max']:,.0f}", g["rule"] if g["judged"] else "shown only",
                      "yes" if g["bounded"] else "NO")
    ui.console.print(table)
    ui.console.print(f"soak.json, {png or 'no plot (no series)'}")
    return 0 if soak_report.passed(report) else 1


def _cmd_image(args) -> int:
    from harness.build import images

    _reclaim()
    image, built = images.build_image()
    ui.console.print(f"image {image.hash}: {image.root} ({'built' if built else 'cached'})")
    return 0


def _cmd_kernel(args) -> int:
    from harness.build import images, kernels

    if args.kernel_cmd in ("fetch", "build"):
        _reclaim()
        spec = args.spec
        if args.kernel_cmd == "build" and ":" not in spec:
            spec = f"config:{spec}"  # `tmemlab kernel build baseline` or a fragment path
        start = time.monotonic()
        kernel = kernels.resolve(spec, getattr(args, "config", None))
        initrd = images.build_initramfs(kernel)
        ui.console.print(f"{kernel.spec}: {kernel.release} ({kernel.package} {kernel.version}) "
                         f"{'built' if kernel.extra.get('built') else 'cached'}"
                         f" config sha256 {kernel.config_hash[:16]} in "
                         f"{time.monotonic() - start:.1f} s\n  bzImage {kernel.vmlinuz}\n"
                         f"  initramfs {initrd}")
        return 0
    from harness.build import kernel_list
    rows = kernel_list.entries()
    if args.json:
        _print_json(rows)
    else:
        ui.console.print(kernel_list.table(rows))
    return 0


def _adhoc(args):
    """The one-guest experiment of tmemlab boot / shell, validated like a file."""
    from harness.experiment import experiment

    backend = None
    if args.backend is not None:
        backend = {"enabled": True}
        for item in filter(None, args.backend.split(",")):
            key, _, value = item.partition("=")
            backend[key] = int(value) if value.isdigit() else \
                {"true": True, "false": False}.get(value, value)
    return experiment.adhoc(args.kernel, args.cmdline, args.memory, args.swap, backend,
                            args.config)


def _cmd_shell(args) -> int:
    """Boot one guest and hand the terminal to an SSH shell on it (harness/vm/shell.py)."""
    from harness.run import runner
    from harness.vm import shell

    started = time.monotonic()
    exp = _adhoc(args)
    _reclaim()
    return runner.boot_and_use(exp, lambda ctx: shell.open_shell(ctx, started), args.accel,
                               args.libvirt_uri)


def _cmd_boot(args) -> int:
    """virtme-ng style: boot one guest, run a command in it, print its output, destroy."""
    from harness.run import runner

    exp = _adhoc(args)
    command = " ".join(args.command) or "uname -a; cat /proc/swaps"
    _reclaim()
    status, out, err = runner.boot_and_run(exp, command, args.accel, args.libvirt_uri,
                                           timeout=args.timeout)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return status


def _cmd_debate(args) -> int:
    from harness.report.debate import run as debate

    if args.report:
        out = Path(args.out) if args.out else Path(args.report[0]).parent
        path = debate.report([Path(p) for p in args.report], out)
        ui.console.print(f"report: {path}")
        return 0
    files = debate.experiment_files(args.quick)
    _reclaim()
    path, ok = debate.run_all(files, Path(args.results), args.accel, args.libvirt_uri)
    ui.console.print(f"report: {path}")
    return 0 if ok else EXIT_RUN_FAILED


def _cmd_cleanup(args) -> int:
    from harness.vm.vm import Hypervisor

    with Hypervisor(args.libvirt_uri) as hv:
        gone = hv.destroy_leftovers()
    ui.console.print(f"destroyed {len(gone)} leftover domain(s)")
    _reclaim(quiet=False)
    return 0


def _reclaim(quiet: bool = True) -> None:
    """What dead tmemlab runs left: backends, scratch folders, half-built image trees.
    Never what a live one holds (harness/vm/leftovers.py)."""
    from harness.vm import leftovers

    done = leftovers.reclaim()
    for line in done:
        ui.console.print(f"reclaimed: {line}", markup=False, highlight=False)
    if not quiet and not done:
        ui.console.print("nothing else left by dead runs")


def _forward(module: str, func: str, argv: list[str]) -> int:
    import importlib
    try:
        target = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as err:
        raise UsageError(f"this command is not available: {err}") from err
    return target(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tmemlab", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="QEMU/KVM testbed for frontswap/zswap/tmem guests: boot real guests, "
                    "drive memory pressure, measure, compare.",
        epilog=EXIT_CODES)
    parser.add_argument("-v", "--verbose", action="store_true", help="log subprocess argv")
    sub = parser.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="run an experiment YAML")
    run.add_argument("experiment", nargs="?",
                     help="experiment file (with --resume: default the folder's own)")
    run.add_argument("--accel", choices=("auto", "kvm", "tcg"),
                     help="override the experiment's guest.accel")
    run.add_argument("--libvirt-uri", help="e.g. qemu:///system (default: embedded driver)")
    run.add_argument("--results", default=str(PROJECT_ROOT / "results"),
                     help="where results folders go (default: %(default)s)")
    run.add_argument("--dry-run", action="store_true", help="validate and list the runs")
    run.add_argument("--iterations", type=int, help="override the experiment's iterations")
    run.add_argument("--only", action="append", metavar="PATTERN",
                     help="only runs whose id or label matches (globs; repeat or comma-separate)")
    run.add_argument("--shard", metavar="K/N",
                     help="the K-th of N stable, disjoint parts of the runs (CI matrices)")
    run.add_argument("--list", action="store_true",
                     help="print the selected run ids, one per line, on stdout; run nothing")
    run.add_argument("--resume", metavar="RESULTS_DIR",
                     help="continue an earlier results folder: skip runs recorded as passed, "
                          "run failed and missing ones (refused if the experiment changed)")
    run.add_argument("--json", action="store_true",
                     help="print a JSON summary (results folder, each run's status) on stdout")
    run.add_argument("--prepare-only", action="store_true",
                     help="build or fetch the image, kernels and initramfs the runs need, "
                          "probe the accelerator, run nothing (a CI build stage)")
    run.set_defaults(func=_cmd_run)

    image = sub.add_parser("image", help="guest image")
    image.add_argument("image_cmd", choices=("build",))
    image.set_defaults(func=_cmd_image)

    kernel = sub.add_parser("kernel", help="guest kernels")
    kernel_sub = kernel.add_subparsers(dest="kernel_cmd", required=True)
    fetch = kernel_sub.add_parser("fetch", help="fetch a kernel and build its initramfs")
    fetch.add_argument("spec", help="e.g. distro:debian-6.1")
    kbuild = kernel_sub.add_parser("build", help="build a kernel from kernel_configs/")
    kbuild.add_argument("spec", help="NAME (kernel_configs/NAME.config), a fragment PATH, "
                                     "or tree:PATH / image:PATH")
    kbuild.add_argument("--config", help="fragment set for tree:/image: (default baseline)")
    klist = kernel_sub.add_parser("list", help="kernels: available, cached, built (with hashes)")
    klist.add_argument("--json", action="store_true", help="the list as JSON on stdout")
    kernel.set_defaults(func=_cmd_kernel)

    boot = sub.add_parser("boot", help="boot a guest, run a command in it, destroy it")
    _guest_arguments(boot)
    boot.add_argument("command", nargs="*", help="shell command (default: uname -a)")
    boot.add_argument("--timeout", type=int, default=600, help="command timeout, s")
    boot.set_defaults(func=_cmd_boot)

    shell = sub.add_parser("shell", help="boot a guest and open an SSH shell on it; exiting "
                                         "the shell (or interrupting tmemlab) destroys it")
    _guest_arguments(shell)
    shell.set_defaults(func=_cmd_shell)

    debate = sub.add_parser("debate", help="run experiments/debate/ and write a verdict per "
                                           "2011 frontswap objection (DEBATE.md, HTML)")
    debate.add_argument("--quick", action="store_true",
                        help="experiments/debate/quick/: smaller sizes (~15 min under TCG)")
    debate.add_argument("--report", nargs="+", metavar="RESULTS_DIR",
                        help="only write the report from existing results folders")
    debate.add_argument("--out", help="with --report: where the report goes "
                                      "(default: the first folder's parent)")
    debate.add_argument("--accel", choices=("auto", "kvm", "tcg"))
    debate.add_argument("--libvirt-uri")
    debate.add_argument("--results", default=str(PROJECT_ROOT / "results"),
                        help="where the debate-<stamp> folder goes (default: %(default)s)")
    debate.set_defaults(func=_cmd_debate)

    merge = sub.add_parser("merge", help="merge results folders of one experiment's shards "
                           "(run --shard) into one, then compare it")
    merge.add_argument("out", help="the merged folder (must not exist)")
    merge.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR")
    merge.add_argument("--json", action="store_true",
                       help="print a JSON summary (folder, each run's status and host) on stdout")
    merge.set_defaults(func=_cmd_merge)

    over = sub.add_parser("overcommit", help="the many-guests report of a results folder with "
                                             "group runs (OVERCOMMIT.md, plots)")
    over.add_argument("results_dir")
    over.add_argument("--out", help="where the report goes (default: the results folder)")
    over.set_defaults(func=_cmd_overcommit)

    soak = sub.add_parser("soak-report", help="a soak's figures (corrupted pages, faults, "
                                              "growth of RSS, descriptors, scratch) and "
                                              "soak.png")
    soak.add_argument("results_dir")
    soak.set_defaults(func=_cmd_soak_report)

    cleanup = sub.add_parser("cleanup", help="destroy domains, backends, scratch folders and "
                                             "half-built images left by dead runs")
    cleanup.add_argument("--libvirt-uri")
    cleanup.set_defaults(func=_cmd_cleanup)

    for name, (module, builder, text) in FORWARDED_PARSERS.items():
        mounted = getattr(importlib.import_module(module), builder)()
        sub.add_parser(name, parents=[mounted], add_help=False, help=text,
                       description=mounted.description)

    completion = sub.add_parser("completion", help="print a shell completion script, e.g. "
                                "tmemlab completion bash > /etc/bash_completion.d/tmemlab")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    completion.set_defaults(func=_cmd_completion)
    _completion_hints(parser)
    return parser


def _guest_arguments(p: argparse.ArgumentParser) -> None:
    """One guest's kernel and shape: tmemlab boot and tmemlab shell."""
    p.add_argument("kernel", help="e.g. distro:debian-6.1, config:tmem, tree:PATH")
    p.add_argument("--cmdline", default="", help="extra kernel parameters")
    p.add_argument("--memory", type=int, default=256, help="guest MiB")
    p.add_argument("--swap", type=int, default=256, help="swap disk MiB (0: none)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    p.add_argument("--libvirt-uri")
    p.add_argument("--config", help="fragment set for tree:/image: kernels")
    p.add_argument("--backend", nargs="?", const="", metavar="OPT=V,...",
                   help="serve the guest's tmem channel with a host backend, e.g. "
                        "--backend compression=lz4,max_pages=0 (default: on for "
                        "tmem-capable kernels)")


def _completion_hints(parser: argparse.ArgumentParser) -> None:
    """Files and folders for the shell to complete: an experiment is a file, a results
    folder (or where one goes) a directory."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _completion_hints(child)
        elif action.dest in ("experiment", "spec"):
            action.complete = shtab.FILE
        elif action.dest in ("results", "results_dir", "results_dirs", "resume", "out",
                             "report", "baseline"):
            action.complete = shtab.DIRECTORY


# Subcommands owned by other packages; their argv is passed through untouched (their
# own parsers, errors and exit codes). Their parsers are also mounted in build_parser,
# so that --help lists them and completion knows their options.
FORWARDED = {
    "backend": ("host_backend.cli", "main"),
    "compare": ("harness.report.compare.cli", "main_compare"),
    "show": ("harness.report.compare.cli", "main_show"),
}
FORWARDED_PARSERS = {
    "compare": ("harness.report.compare.cli", "compare_parser",
                "compare results folders: statistics, plots, HTML, JUnit/KTAP, regression gate"),
    "show": ("harness.report.compare.cli", "show_parser", "print the identity of results folders"),
    "backend": ("host_backend.cli", "build_parser", "the host-side tmem backend (serve, stats)"),
}


def _cmd_completion(args) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # SIGINT/SIGTERM/SIGHUP, whatever was inherited: unwind, destroy every domain, and
    # exit within interrupt.GRACE_S however far the unwinding gets.
    interrupt.install()
    try:
        if argv and argv[0] in FORWARDED:
            return _forward(*FORWARDED[argv[0]], argv[1:])
        tail: list[str] = []
        if argv and argv[0] == "boot" and "--" in argv:  # boot KERNEL [opts] -- COMMAND...
            cut = argv.index("--")
            argv, tail = argv[:cut], argv[cut + 1:]
        args = build_parser().parse_args(argv)
        if tail:
            args.command = tail
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(name)s: %(message)s")
        return args.func(args)
    except TmemlabError as err:
        if interrupt.interrupted():  # e.g. a libvirt call the signal cut short
            return _interrupted()
        # One line however long, and as written: a path or "[0]" is not rich markup.
        ui.console.print(f"[bold red]tmemlab:[/] {escape(str(err))}", highlight=False,
                         soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:
        # A KeyboardInterrupt raised inside a callback from C (libvirt's error handler)
        # comes back as SystemError: still an interrupt, already unwound.
        if interrupt.interrupted():
            return _interrupted()
        raise


def _interrupted() -> int:
    ui.console.print("[bold red]tmemlab: interrupted[/]; domains destroyed")
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
