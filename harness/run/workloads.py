"""Workloads run inside the guest: how to validate their parameters, build the command,
and turn their output into a result. Looked up by name in WORKLOADS."""

from __future__ import annotations

import json
import re
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from harness.build import kbuild, kbuild_tree

SIZE = re.compile(r"^\d+[KMG]?$")
PATTERNS = ("seq", "random", "zipf")
MIX_KINDS = ("zero", "dup", "text", "random")


def _mix(value) -> str:
    """{"zero": 10, ...} or "zero=10,..." → the pressure tool's --mix string."""
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, str):
        pairs = [p.split("=", 1) for p in value.split(",") if p]
    else:
        raise ValueError(f"mix: expected a mapping like {{zero: 10, text: 90}}, got {value!r}")
    out = {}
    for kind, pct in pairs:
        if kind not in MIX_KINDS:
            raise ValueError(f"mix: unknown page kind {kind!r} (known: {', '.join(MIX_KINDS)})")
        out[kind] = int(pct)
    if sum(out.values()) != 100:
        raise ValueError(f"mix: percentages add up to {sum(out.values())}, not 100")
    return ",".join(f"{k}={v}" for k, v in out.items())


@dataclass(frozen=True)
class Param:
    check: Callable[[object], bool]
    hint: str
    flag: str | None = None        # command-line flag; None for harness-only params


def _is_int(lo: float, hi: float) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_num(lo: float, hi: float) -> Callable[[object], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi


PRESSURE_PARAMS = {
    "size": Param(lambda v: isinstance(v, str) and bool(SIZE.match(v)), "like 512M", "--size"),
    "size_pct_of_ram": Param(_is_int(1, 10000), "1..10000", "--size-pct-of-ram"),
    "passes": Param(_is_int(1, 10**6), "1..1e6", "--passes"),
    "duration": Param(_is_num(1, 86400), "seconds", "--duration"),
    "threads": Param(_is_int(1, 256), "1..256", "--threads"),
    "pattern": Param(lambda v: v in PATTERNS, " | ".join(PATTERNS), "--pattern"),
    "zipf_theta": Param(_is_num(0.01, 5), "0.01..5", "--zipf-theta"),
    "write_ratio": Param(_is_num(0, 1), "0..1", "--write-ratio"),
    "seed": Param(_is_int(0, 2**63), "an integer", "--seed"),
    "mix": Param(lambda v: bool(_mix(v)), "zero/dup/text/random percentages", "--mix"),
    "thp": Param(lambda v: isinstance(v, bool), "true|false", "--thp"),
    "final_verify": Param(lambda v: isinstance(v, bool), "true|false", "--final-verify"),
}


def _check(params: dict, table: dict[str, Param]) -> None:
    for key, value in params.items():
        spec = table.get(key)
        if spec is None:
            raise ValueError(f"unknown parameter {key!r} (known: {', '.join(table)})")
        try:
            ok = spec.check(value)
        except ValueError as err:
            raise ValueError(str(err)) from err
        if not ok:
            raise ValueError(f"{key}={value!r}: expected {spec.hint}")


# What a signal that killed a workload means for a swap experiment.
SIGNAL_MEANING = {
    "SIGBUS": "data loss: a swapped page could not be read back",
    "SIGKILL": "killed outright, usually by the guest's OOM killer",
    "SIGSEGV": "a bad memory access in the workload",
}


def signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


def killed_by(workload: str, signo: int) -> str:
    """'pressure killed by SIGBUS (data loss: ...)': the failure line of a workload that
    a signal ended (Guest.run reports it as a negative status)."""
    name = signal_name(signo)
    meaning = SIGNAL_MEANING.get(name)
    return f"{workload} killed by {name}" + (f" ({meaning})" if meaning else "")


def json_result(tool: str, status: int, stdout: str, stderr: str) -> tuple[dict, str | None]:
    """The one JSON object a guest tool prints last, or the failure: the signal that
    killed it (a negative status, harness.vm.guest.Guest.run), or no JSON with its output tail."""
    if status < -1:
        return {"signal": signal_name(-status)}, killed_by(tool, -status)
    try:
        return json.loads(stdout.strip().splitlines()[-1]), None
    except (IndexError, json.JSONDecodeError):
        tail = (stderr or stdout).strip().splitlines()[-3:]
        return {}, f"{tool} printed no JSON result (exit {status}): {' | '.join(tail)}"


class Pressure:
    name = "pressure"
    binary = "/usr/local/bin/pressure"

    def validate(self, params: dict) -> None:
        _check(params, PRESSURE_PARAMS)
        if "size" in params and "size_pct_of_ram" in params:
            raise ValueError("give size or size_pct_of_ram, not both")
        if "passes" in params and "duration" in params:
            raise ValueError("give passes or duration, not both")

    def command(self, params: dict) -> str:
        # random/zipf passes need not touch every page: by default a final sweep reads
        # every page back, so every page the workload wrote is verified at least once.
        params = {"final_verify": True, **params}
        argv = [self.binary]
        for key, value in params.items():
            flag = PRESSURE_PARAMS[key].flag
            if key == "mix":
                argv += [flag, _mix(value)]
            elif key in ("thp", "final_verify"):
                argv += [flag] if value else []
            else:
                argv += [flag, str(value)]
        return shlex.join(argv)

    def parse(self, status: int, stdout: str, stderr: str,
              params: dict | None = None) -> tuple[dict, str | None]:
        """(result, failure reason or None). Exit 3 = corrupted pages (JSON still printed);
        a negative status is the signal that killed it (harness.vm.guest.Guest.run)."""
        result, failure = json_result(self.name, status, stdout, stderr)
        if failure:
            return result, failure
        corrupted = result.get("corrupted_pages")
        if corrupted is None:
            return result, "pressure result has no corrupted_pages"
        if corrupted:
            return result, f"{corrupted} corrupted pages"
        if status != 0:
            return result, f"pressure exited {status}"
        return result, None


# `stress-ng --vm-method which` of the image's stress-ng (Debian 12: 0.15.06);
# tests/e2e/test_stress_ng_e2e.py checks this list against the guest's.
STRESS_VM_METHODS = (
    "all", "cache-lines", "cache-stripe", "checkerboard", "flip", "fwdrev", "galpat-0",
    "galpat-1", "gray", "grayflip", "rowhammer", "incdec", "inc-nybble", "lfsr32", "rand-set",
    "rand-sum", "read64", "ror", "swap", "move-inv", "modulo-x", "mscan", "wrrd128nt",
    "prime-0", "prime-1", "prime-gray-0", "prime-gray-1", "prime-incdec", "walk-0d", "walk-1d",
    "walk-0a", "walk-1a", "write64", "write64nt", "write1024v", "zero-one")

STRESS_PARAMS = {
    "vm": Param(_is_int(1, 256), "number of vm workers"),
    "vm_bytes": Param(lambda v: isinstance(v, str) and bool(re.match(r"^\d+[KMG%]?$", v)),
                      "like 256M or 150%"),
    "vm_method": Param(lambda v: v in STRESS_VM_METHODS,
                       "a stress-ng --vm-method name: " + " ".join(STRESS_VM_METHODS)),
    "duration": Param(_is_int(1, 86400), "seconds"),
}


class StressNg:
    name = "stress-ng"

    def validate(self, params: dict) -> None:
        _check(params, STRESS_PARAMS)

    def notes(self, params: dict) -> list[str]:
        """Caveats recorded with the run. ``--vm-method all`` runs the methods one after
        another, each over the whole buffer (stress-ng vm.c stress_vm_all): a short run
        reaches only the first few."""
        if params.get("vm_method", "all") != "all":
            return []
        return [f"vm_method all: stress-ng runs its {len(STRESS_VM_METHODS) - 1} methods in "
                f"turn, each over the whole buffer, so a {params.get('duration', 30)} s run "
                "exercises only the first ones; name the methods (a matrix) to test each"]

    def command(self, params: dict) -> str:
        argv = ["stress-ng", "--vm", str(params.get("vm", 1)),
                "--vm-bytes", str(params.get("vm_bytes", "150%")),
                "--vm-method", str(params.get("vm_method", "all")),
                "--verify", "--timeout", f"{params.get('duration', 30)}s",
                "--metrics", "--yaml", "/tmp/stress-ng.yaml"]
        # stress-ng's YAML goes to a file; print it after so one stream carries everything.
        return f"{shlex.join(argv)}; rc=$?; echo '---'; cat /tmp/stress-ng.yaml; exit $rc"

    def parse(self, status: int, stdout: str, stderr: str,
              params: dict | None = None) -> tuple[dict, str | None]:
        fails = len(re.findall(r"\bfail:|verif\w* fail", stdout + stderr, re.I))
        result = {"verify_failures": fails, "exit_status": status}
        try:
            doc = yaml.safe_load(stdout.split("\n---\n", 1)[1]) or {}
            for metric in doc.get("metrics", []):
                if metric.get("stressor") == "vm":
                    result["bogo_ops"] = metric.get("bogo-ops")
                    result["bogo_ops_per_sec"] = metric.get("bogo-ops-per-second-real-time")
                    result["elapsed_s"] = metric.get("wall-clock-time")
        except (IndexError, yaml.YAMLError, AttributeError):
            return result, f"stress-ng printed no metrics (exit {status})"
        if fails:
            return result, f"stress-ng reported {fails} verification failures"
        # The command ends `exit $rc`: a stress-ng killed by a signal shows as 128 + signo
        # (Guest.run's -signo when the shell itself died); a worker that a signal killed is
        # reported by stress-ng ("child died: signal 7 'SIGBUS'") and fails it with exit 2.
        died = re.search(r"child died: signal (\d+)", stdout + stderr)
        if status < 0 or status > 128 or died:
            signo = -status if status < 0 else status - 128 if status > 128 else int(died[1])
            return result, killed_by("stress-ng" if not died else "a stress-ng worker", signo)
        if status != 0:
            return result, f"stress-ng exited {status}"
        if not result.get("bogo_ops"):
            warned = "; stress-ng warned the data may be incorrect" \
                if "may be incorrect" in stdout + stderr else ""
            return result, f"stress-ng vm did no measured work (bogo ops: " \
                           f"{result.get('bogo_ops')}){warned}"
        return result, None


POOL_SIZES = ("4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M", "2M")
POOLS_PARAMS = {
    "sizes": Param(lambda v: isinstance(v, list) and bool(v) and all(x in POOL_SIZES for x in v),
                   "a list of page sizes from " + ", ".join(POOL_SIZES), "--sizes"),
    "bytes": Param(lambda v: isinstance(v, str) and bool(SIZE.match(v)), "like 8M", "--bytes"),
    "batch": Param(_is_int(1, 1024), "1..1024", "--batch"),
    "seed": Param(_is_int(0, 2**63), "an integer", "--seed"),
    # the isolation check between guests (pools.c --probe): GET another namespace's ids
    "probe": Param(_is_int(1, 1 << 20), "indices to probe per pool id, 1..1048576", "--probe"),
}


class TmemPools:
    """Pages of 4 KiB … 2 MiB through the host backend from inside the guest, over a port
    of their own (guest_images/tools/pools.c): PUT, GET verified byte for byte, FLUSH,
    unbatched and batched. The runner wires the port when a workload has ``channel``."""
    name = "tmem-pools"
    binary = "/usr/local/bin/tmemlab-pools"
    channel = "pools"
    drives_swap = False  # the guest's own swap technique may store nothing (checks.py)

    def validate(self, params: dict) -> None:
        _check(params, POOLS_PARAMS)

    def command(self, params: dict) -> str:
        argv = [self.binary]
        for key, value in params.items():
            argv += [POOLS_PARAMS[key].flag, ",".join(value) if key == "sizes" else str(value)]
        return shlex.join(argv)

    def parse(self, status: int, stdout: str, stderr: str,
              params: dict | None = None) -> tuple[dict, str | None]:
        result, failure = json_result("tmemlab-pools", status, stdout, stderr)
        if failure:
            return result, failure
        if result.get("probe", {}).get("found"):
            return result, (f"isolation broken: {result['probe']['found']} pages read from "
                            "another namespace's pool ids")
        if result.get("corrupted_pages"):
            return result, f"{result['corrupted_pages']} corrupted pages"
        lingering = [r["page_size"] for r in result.get("sizes", []) if not r["gone_after_flush"]]
        if lingering:
            return result, f"pages still there after FLUSH (page sizes {lingering})"
        if status != 0:
            return result, f"tmemlab-pools exited {status}"
        return result, None


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GUEST_STAGE = "/root/tmemlab-files"   # where a script: lands in the guest


def _files(value) -> bool:
    """["HOST:GUEST", ...]: GUEST absolute; HOST is resolved against the experiment's
    folder and checked to exist when the experiment is loaded (experiment.py)."""
    if not isinstance(value, list):
        raise ValueError("files: expected a list of \"HOST:GUEST\" strings")
    for item in value:
        host, sep, guest = str(item).rpartition(":")
        if not isinstance(item, str) or not sep or not host or not guest.startswith("/"):
            raise ValueError(f"files: {item!r}: expected \"HOST:GUEST\" with an absolute "
                             "GUEST path, e.g. \"job.sh:/usr/local/bin/job.sh\"")
    return True


def _env(value) -> bool:
    if not isinstance(value, dict):
        raise ValueError("env: expected a mapping of NAME: value")
    for key, item in value.items():
        if not ENV_NAME.match(str(key)) or isinstance(item, (dict, list)) or item is None:
            raise ValueError(f"env: {key!r}: expected NAME: value (a name of letters, digits "
                             "and _, a string or number)")
    return True


def result_rule(value) -> bool:
    """{regex: "...(?P<name>...)..."} or {json: "a.b.0.c", name: NAME}, with unit and
    better: higher|lower. The regex's first named group names the metric. A list of such
    rules reads several metrics (ops/s and latency percentiles); the first is the one
    compare ranks by, each keeps its own direction."""
    if isinstance(value, list):
        if not value:
            raise ValueError("result: expected a rule or a non-empty list of rules")
        names = [metric_name(rule) for rule in value if _one_rule(rule)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"result: metric {twice[0]!r} named twice")
        return True
    return _one_rule(value)


def _one_rule(value) -> bool:
    if not isinstance(value, dict):
        raise ValueError("result: expected {regex: ..., unit: ..., better: higher|lower}")
    unknown = set(value) - {"regex", "json", "name", "unit", "better"}
    if unknown:
        raise ValueError(f"result: unknown field {sorted(unknown)[0]!r} (known: regex, json, "
                         "name, unit, better)")
    if ("regex" in value) == ("json" in value):
        raise ValueError("result: give regex or json, one of them")
    if value.get("better") not in ("higher", "lower"):
        raise ValueError("result.better: expected higher or lower")
    if not isinstance(value.get("unit", ""), str):
        raise ValueError("result.unit: expected a string like s, ops/s, points")
    if "regex" in value:
        try:
            names = list(re.compile(str(value["regex"])).groupindex)
        except re.error as err:
            raise ValueError(f"result.regex: not a regular expression: {err}") from None
        if not names:
            raise ValueError("result.regex: needs a named group, e.g. (?P<score>[0-9.]+)")
    elif not (isinstance(value["json"], str) and value["json"]
              and isinstance(value.get("name"), str) and ENV_NAME.match(value["name"])):
        raise ValueError("result: json needs a dotted path (a.b.0.c) and name: NAME")
    return True


COMMAND_PARAMS = {
    "command": Param(lambda v: isinstance(v, str) and bool(v.strip()), "a shell command line"),
    "script": Param(lambda v: isinstance(v, str) and bool(v), "a script file on the host"),
    "files": Param(_files, "a list of \"HOST:GUEST\""),
    "env": Param(_env, "a mapping of NAME: value"),
    "expect_exit": Param(_is_int(0, 255), "0..255"),
    "result": Param(result_rule, "{regex|json, unit, better}"),
}


def metric_name(rule: dict) -> str:
    return rule.get("name") or next(iter(re.compile(rule["regex"]).groupindex))


def read_metric(rule: dict, stdout: str) -> float | None:
    """The rule's number in a command's output: the regex's last match, or the JSON path
    in the last line of stdout that is a JSON object or array."""
    if "regex" in rule:
        matches = list(re.finditer(rule["regex"], stdout, re.M))
        text = matches[-1].group(metric_name(rule)) if matches else None
    else:
        doc = None
        for line in reversed(stdout.strip().splitlines()):
            try:
                doc = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
        for key in rule["json"].split("."):
            if isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
                doc = doc[int(key)]
            elif isinstance(doc, dict):
                doc = doc.get(key)
            else:
                doc = None
        text = doc
    try:
        return float(text) if text is not None and not isinstance(text, bool) else None
    except (TypeError, ValueError):
        return None


class Command:
    """Your own workload: a command line (or a script from the experiment's folder) run in
    the guest after ``files`` are copied in, with ``env``; its exit status must be
    ``expect_exit`` (default 0), and an optional ``result`` rule reads a metric from its
    output that compare ranks (harness/report/compare/metrics.py: primary_for)."""
    name = "command"

    def validate(self, params: dict) -> None:
        _check(params, COMMAND_PARAMS)
        if ("command" in params) == ("script" in params):
            raise ValueError("give command or script, one of them")

    def staged(self, params: dict) -> list[tuple[str, str]]:
        """(host path, guest path) to copy in before the command runs."""
        out = [tuple(item.rsplit(":", 1)) for item in params.get("files", [])]
        if "script" in params:
            out.append((params["script"], f"{GUEST_STAGE}/{params['script'].rsplit('/', 1)[-1]}"))
        return out

    def command(self, params: dict) -> str:
        lines = [f"export {k}={shlex.quote(str(v))}" for k, v in params.get("env", {}).items()]
        lines.append("cd /root")
        if "script" in params:
            lines.append(f"sh {shlex.quote(self.staged(params)[-1][1])}")
        else:
            lines.append(params["command"])
        return "\n".join(lines)

    def parse(self, status: int, stdout: str, stderr: str,
              params: dict | None = None) -> tuple[dict, str | None]:
        params = params or {}
        tail = [ln for ln in (stdout + "\n" + stderr).splitlines() if ln.strip()][-20:]
        result: dict = {"exit_status": status, "output_tail": "\n".join(tail)}
        if status < -1:
            return result, killed_by("command", -status)
        expected = params.get("expect_exit", 0)
        if status != expected:
            return result, (f"command exited {status} (expected {expected}): "
                            f"{' | '.join(tail[-3:])}")
        rules = params.get("result") or []
        metrics = []
        for rule in rules if isinstance(rules, list) else [rules]:
            name = metric_name(rule)
            found = read_metric(rule, stdout)
            if found is None:
                how = f"regex {rule['regex']!r}" if "regex" in rule else f"json {rule['json']}"
                return result, f"result: {how} found no {name} in the command's output"
            result[name] = found
            metrics.append({"name": name, "value": found, "unit": rule.get("unit", ""),
                            "better": rule["better"]})
        if metrics:
            result["metric"] = metrics[0]     # the one compare ranks by
            result["metrics"] = metrics
        return result, None


TARGET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
# Two directories of a tinyconfig 6.1 tree: 19 objects, 15 s of one host core, and cc1
# processes of 80-110 MiB (kernel/sched/core.c, fair.c): -j4 needs more than a small
# guest has.
KBUILD_DEFAULT_TARGETS = ("kernel/sched/", "kernel/time/")


def _targets(value) -> bool:
    if not isinstance(value, list) or not value:
        raise ValueError("targets: expected a non-empty list of make targets, e.g. "
                         "[kernel/sched/, lib/sort.o]")
    for item in value:
        if not isinstance(item, str) or not TARGET.match(item) or ".." in item:
            raise ValueError(f"targets: {item!r}: expected a path in the tree (a directory "
                             "like kernel/sched/ or an object like lib/sort.o)")
    return True


KBUILD_PARAMS = {
    "jobs": Param(_is_int(1, 64), "1..64 (make -jN)"),
    "targets": Param(_targets, "a list of make targets"),
    "config": Param(lambda v: v in kbuild_tree.CONFIGS, " | ".join(kbuild_tree.CONFIGS)),
    "series": Param(lambda v: v in kbuild.SERIES, " | ".join(kbuild.SERIES)),
}


class KernelBuild:
    """Part of a Linux tree built in the guest (``make -jN TARGETS`` over Debian's
    linux-source, configured and prepared on the host: harness/build/kbuild_tree.py), the zswap
    paper's workload. Result: ``elapsed_s`` (make's wall time in the guest, lower is
    better) and every object checked against the host's build of the same targets at the
    same paths with the same compiler: one differing byte fails the run as corruption."""
    name = "kernel-build"
    binary = "/usr/local/bin/tmemlab-kbuild"
    packages = ("gcc", "make", "bc")   # bc: kernel/time/timeconst.h

    def validate(self, params: dict) -> None:
        _check(params, KBUILD_PARAMS)

    def tree(self, params: dict) -> tuple[str, str, tuple[str, ...]]:
        """(series, config, targets): what the host prepares (kbuild_tree.prepare)."""
        return (params.get("series", "6.1"), params.get("config", "tinyconfig"),
                tuple(params.get("targets", KBUILD_DEFAULT_TARGETS)))

    def command(self, params: dict) -> str:
        # guest_images/recipe/tmemlab-kbuild: mount, unpack, make, check, one JSON line
        return shlex.join([self.binary, str(params.get("jobs", 1)), *self.tree(params)[2]])

    def parse(self, status: int, stdout: str, stderr: str,
              params: dict | None = None) -> tuple[dict, str | None]:
        result, failure = json_result(self.name, status, stdout, stderr)
        if failure:
            return result, failure
        if "setup_error" in result:
            return result, f"kernel-build: {result['setup_error']}"
        if result.get("make_exit"):
            tail = " | ".join(stderr.strip().splitlines()[-3:])
            return result, f"make exited {result['make_exit']}: {tail}"
        if result.get("objects_mismatched"):
            return result, (f"{result['objects_mismatched']} of {result['objects_checked']} "
                            "objects differ from the host's build of the same sources "
                            f"(corrupted): {result['first_mismatch']}")
        if not result.get("objects_checked"):
            return result, "kernel-build checked no object"
        return result, None


WORKLOADS = {w.name: w for w in (Pressure(), StressNg(), TmemPools(), Command(),
                                 KernelBuild())}
