"""`tmemlab compare` and `tmemlab show`: argument parsing, printing and exit codes only.

Exit codes: 0 fine, 1 with --fail-on-regression: a significant regression beyond PCT, a failed
run or a corrupted page in a compared column, 2 a user error
(bad arguments, a missing folder, a folder without runs), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.report.compare.errors import CompareError

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main returns 2 with one line."""

    def error(self, message: str):  # type: ignore[override]
        raise CompareError(f"{self.prog}: {message}")


def _alpha(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("alpha must be between 0 and 1")
    return value


def compare_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tmemlab compare",
                description="Compare results folders: per-config statistics, plots, HTML, CI.")
    p.add_argument("results", nargs="+", type=Path, metavar="RESULTS_DIR")
    p.add_argument("--out", type=Path, help="output folder (default: RESULTS_DIR/compare for "
                   "one folder, RESULTS_DIR/compare-vs-BASELINE with --baseline)")
    p.add_argument("--baseline", type=Path, metavar="DIR",
                   help="results folder to compare against (same labels are matched)")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 when a primary metric is significantly worse (Holm-adjusted p) "
                   "by more than PCT percent, or a compared run failed or corrupted pages")
    p.add_argument("--alpha", type=_alpha, default=0.05,
                   help="family-wise significance level: Welch's t-test per primary metric, "
                   "Holm–Bonferroni over the primary metrics of each comparison (default 0.05)")
    p.add_argument("--labels", help="comma-separated labels: pick and order the columns "
                   "(the first is the reference)")
    p.add_argument("--reference", metavar="LABEL",
                   help="the column every other column is compared with (default: the "
                   "experiment's first kernel)")
    p.add_argument("--by-host", action="store_true",
                   help="one column per label and host (merged shards of several machines); "
                   "without it a column that mixes hosts is pooled, with a warning")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    p.add_argument("--json", action="store_true",
                   help="print comparison.json on stdout (the table goes to stderr)")
    return p


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return args.out
    if len(args.results) == 1 and args.baseline is not None:
        return args.results[0] / f"compare-vs-{args.baseline.resolve().name}"
    if len(args.results) == 1:
        return args.results[0] / "compare"
    raise CompareError("several results folders: say where outputs go with --out DIR")


def _gate(table, args: argparse.Namespace) -> int:
    from harness.report.compare.gate import find_regressions, hard_failures

    if table.single_iteration:
        print("warning: single iterations: no significance test, only failed runs and "
              "corrupted pages can fail the gate", file=sys.stderr)
    else:
        for i, col in enumerate(table.columns):
            if table.untestable(i):
                print(f"warning: {col.key}: n=1: no test possible, only failed runs and "
                      "corrupted pages can fail the gate", file=sys.stderr)
    found = [f"regression: {r}" for r in find_regressions(table, args.fail_on_regression)]
    found += [f"failure: {f}" for f in hard_failures(table)]
    for line in found:
        print(line, file=sys.stderr)
    return EXIT_REGRESSION if found else EXIT_OK


def _compare(argv: list[str]) -> int:
    from rich.console import Console

    from harness.report.compare.loader import load_results_dir
    from harness.report.compare.render_text import print_table
    from harness.report.compare.report import (
        CompareOptions,
        compare_dirs,
        write_ci_outputs,
        write_outputs,
    )

    args = compare_parser().parse_args(argv)
    out_dir = _out_dir(args)
    dirs = [load_results_dir(p) for p in args.results]
    baseline = load_results_dir(args.baseline) if args.baseline else None
    labels = tuple(s for s in args.labels.split(",") if s) if args.labels else None
    opts = CompareOptions(alpha=args.alpha, labels=labels, plots=not args.no_plots,
                          reference=args.reference, by_host=args.by_host)
    table = compare_dirs(dirs, opts, baseline)
    all_dirs = ([baseline] if baseline else []) + dirs
    try:
        written = write_outputs(table, all_dirs, out_dir, plots=opts.plots)
        written += write_ci_outputs([r for d in dirs for r in d.runs], out_dir,
                                    ",".join(d.name for d in dirs))
    except OSError as exc:
        raise CompareError(f"cannot write outputs to {out_dir}: {exc.strerror or exc}") from exc
    if args.json:  # machine-readable on stdout, people's output on stderr
        from harness.report.compare.render_data import render_json
        print(render_json(table))
    if not args.quiet:
        print_table(table, Console(stderr=args.json))
        print(f"wrote {len(written)} files to {out_dir}",
              file=sys.stderr if args.json else sys.stdout)
    if args.fail_on_regression is not None:
        return _gate(table, args)
    return EXIT_OK


def show_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tmemlab show", description="Print the identity of results folders.")
    p.add_argument("results", nargs="+", type=Path, metavar="RESULTS_DIR")
    p.add_argument("--json", action="store_true",
                   help="print each folder's identity and runs as JSON on stdout")
    return p


def _show(argv: list[str]) -> int:
    from harness.report.compare.loader import load_results_dir
    from harness.report.compare.show import render_show

    args = show_parser().parse_args(argv)
    if args.json:
        import json

        from harness.report.compare.show import show_data
        print(json.dumps([show_data(load_results_dir(d)) for d in args.results], indent=2,
                         default=str))
        return EXIT_OK
    texts = [render_show(load_results_dir(d)) for d in args.results]
    print("\n".join(texts), end="")
    return EXIT_OK


def _run(fn, argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return fn(argv)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main_compare(argv: list[str] | None = None) -> int:
    return _run(_compare, argv)


def main_show(argv: list[str] | None = None) -> int:
    return _run(_show, argv)
