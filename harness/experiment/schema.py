"""The experiment file's schema, defined once (pydantic v2).

harness/experiment/experiment.py loads YAML through ``ExperimentFile``; its ``backend:`` section is
host_backend/options.py's BackendOptions, the model ``tmemlab backend serve`` checks its
own flags with, so the experiment and the backend cannot disagree on a value.

Field types raise ValueError with the sentence the user reads; ``problems`` turns a
pydantic ValidationError into (field path, reason, YAML line) using the composed YAML
node tree, so each mistake points at its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, Field, ValidationError

from harness.build.kernels import DISTRO_KERNELS
from harness.run.workloads import WORKLOADS
from host_backend.options import BackendOptions, Bool, Strict, dotted, explain, int_in, one_of

ACCELS = ("auto", "kvm", "tcg")
SWAP_CACHES = ("none", "directsync", "writethrough")
IOTUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")
KERNEL_SPEC = re.compile(r"^(distro|config|tree|image):\S+$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DEB_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")   # Debian Policy 5.6.1


# --- kernel specs: checked at load time, nothing downloaded or built ---------------------

def _distro(name: str) -> str | None:
    if name not in DISTRO_KERNELS:
        return f"unknown distro kernel {name!r} (known: {', '.join(sorted(DISTRO_KERNELS))})"
    return None


def _fragment(name: str) -> str | None:
    from harness.build import kbuild
    from harness.errors import KernelBuildError
    try:
        kbuild.fragment_path(kbuild.split_spec(name)[0])
    except KernelBuildError as err:
        return str(err)
    return None


def _path_kind(test, what: str):
    def check(path: str) -> str | None:
        return None if test(Path(path)) else f"{path}: no such {what}"
    return check


# Differences are data: one check per kernel kind, beside harness/build/kernels.KERNEL_KINDS.
SPEC_CHECKS = {"distro": _distro, "config": _fragment,
               "tree": _path_kind(Path.is_dir, "directory (a kernel source tree)"),
               "image": _path_kind(Path.is_file, "file (a bzImage)")}


def _kernel_spec(value: Any) -> str:
    if not isinstance(value, str) or not KERNEL_SPEC.match(value):
        raise ValueError(f"{value!r} is not distro:NAME, config:NAME, tree:PATH or image:PATH")
    kind, _, name = value.partition(":")
    problem = SPEC_CHECKS[kind](name)
    if problem:
        raise ValueError(problem)
    return value


# --- field types --------------------------------------------------------------------------

def _label(value: Any) -> str:
    if not isinstance(value, str) or not LABEL.match(value):
        raise ValueError(f"{value!r} must be letters, digits, '.', '_' or '-'")
    return value


def _config_name(value: Any) -> str:
    _label(value)
    problem = _fragment(value)
    if problem:
        raise ValueError(problem)
    return value


# The tmem frontend's module parameters and the values mm/tmem.c accepts (its param_set
# callbacks, kernel_configs/patches/6.1/0002): the kernel would ignore a bad one with a console
# line and boot with the default, which the settings read-back then catches a boot later.
TMEM_PARAMS: dict[str, tuple | None] = {
    "mode": ("sync", "async"), "window": (1, 2048), "batch": (1, 1024), "prefetch": (0, 64),
    "slots": (1, 256),
    "store_timeout_ms": (1, 60000), "load_retry_ms": (1, 60000), "put_retry_ms": (1, 60000),
    "load_timeout_s": (0, 1 << 31), "flush_msgs": (0, 1 << 20), "enabled": None, "name": None,
}


def _tmem_param_problem(token: str) -> str | None:
    name, sep, value = token.partition("=")
    param = name.split(".", 1)[1].replace("-", "_")
    if param not in TMEM_PARAMS:
        return f"tmem has no parameter {param!r} (has: {', '.join(sorted(TMEM_PARAMS))})"
    allowed = TMEM_PARAMS[param]
    if allowed is None:
        return None
    if isinstance(allowed[0], str):
        return None if value in allowed else (
            f"{name}={value}: expected one of {', '.join(allowed)}")
    lo, hi = allowed
    if not sep or not value.isdigit() or not lo <= int(value) <= hi:
        return f"{name}={value}: expected an integer in {lo}..{hi}"
    return None


def _cmdlines(value: Any) -> list[str]:
    variants = value if isinstance(value, list) else [value]
    for cmdline in variants:
        if not isinstance(cmdline, str):
            raise ValueError(f"expected a string or list of strings, got {cmdline!r}")
        for token in cmdline.split():
            if token.startswith("tmem."):
                problem = _tmem_param_problem(token)
                if problem:
                    raise ValueError(problem)
    return variants or [""]


def _non_empty_list(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list")
    return value


def _values(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of values")
    return value


def _mapping(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping, got {type(value).__name__}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _packages(value: Any) -> list[str]:
    """Debian package names (Policy 5.6.1), each once; existence is checked by
    harness/experiment/experiment.py against the host's apt, after the schema."""
    if not isinstance(value, list):
        raise ValueError("expected a list of Debian package names")
    for name in value:
        if not isinstance(name, str) or not DEB_PACKAGE.match(name):
            raise ValueError(f"{name!r} is not a Debian package name "
                             "(lower case letters, digits, + - .)")
    twice = sorted({n for n in value if value.count(n) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} given twice")
    return value


def _iotune_scale(value: Any) -> str | float:
    """'none', 'tcg' (the run's measured CPU slowdown, under TCG only) or a divisor > 0."""
    if value in ("none", "tcg"):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 10000:
        return float(value)
    raise ValueError(f"{value!r}: expected none, tcg or a number in (0, 10000]")


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 86400:
        return float(value)
    raise ValueError(f"{value!r}: expected seconds in 0..86400")


Seconds = Annotated[float, BeforeValidator(_seconds)]
IotuneScale = Annotated[str | float, BeforeValidator(_iotune_scale)]


def _faults(value: Any) -> list:
    from harness.run.faults import validate
    problem = validate(value)
    if problem:
        raise ValueError(problem)
    return value


Label = Annotated[str, BeforeValidator(_label)]
Mapping = Annotated[dict, BeforeValidator(_mapping)]


def section(model):
    """A nested mapping; ``key:`` with nothing after it means all defaults."""
    return Annotated[model, BeforeValidator(_mapping)]


def entries(model):
    return Annotated[list[model], BeforeValidator(_non_empty_list)]


# --- the models ---------------------------------------------------------------------------

class Guest(Strict):
    memory_mib: int_in(64, 1 << 20) = 256
    vcpus: int_in(1, 256) = 1
    accel: one_of(ACCELS) = "auto"
    boot_timeout_s: int_in(5, 3600) = 120


class Iotune(Strict):
    total_bytes_sec: int_in(0, 1 << 40) | None = None
    read_bytes_sec: int_in(0, 1 << 40) | None = None
    write_bytes_sec: int_in(0, 1 << 40) | None = None
    total_iops_sec: int_in(0, 1 << 40) | None = None
    read_iops_sec: int_in(0, 1 << 40) | None = None
    write_iops_sec: int_in(0, 1 << 40) | None = None


class Swap(Strict):
    size_mib: int_in(0, 1 << 22) = 1024
    cache: one_of(SWAP_CACHES) = "none"
    iotune: section(Iotune) = Iotune()
    # Divide the iotune limits by the guest's CPU slowdown (harness/run/dilation.py).
    iotune_scale: IotuneScale = "none"
    # A swap disk in host RAM (tmpfs) is no disk: refused unless asked for (preflight.py).
    allow_ram_backed: Bool = False


class Member(Strict):
    """One guest of a group (harness/run/group.py), by position; unset fields take the arm's."""
    memory_mib: int_in(64, 1 << 20) | None = None
    weight: int_in(1, 1 << 20) = 100           # the backend's eviction weight
    quota_mib: int_in(0, 1 << 22) | None = None  # its backend page quota; None: swap size
    start_delay_s: Seconds = 0.0  # added to the stagger
    workload: one_of(tuple(WORKLOADS)) | None = None  # its own workload (params: its own)
    params: Mapping = {}                         # merged over the workload's params


class Group(Strict):
    """N guests booted, run and torn down together against one backend."""
    guests: int_in(1, 64) = 1
    stagger_s: Seconds = 0.0  # guest i starts i*stagger_s late
    # Guest i starts stagger_s after guest i-1's workload has ended instead: peaks that
    # never overlap whatever the guests' speed (TCG and KVM alike).
    after_previous: Bool = False
    members: list[Member] = []


class GroupOverride(Strict):
    """A kernel entry's changes to the experiment's group (its arm's shape)."""
    guests: int_in(1, 64) | None = None
    stagger_s: Seconds | None = None
    after_previous: Bool | None = None
    members: list[Member] | None = None


class KernelEntry(Strict):
    kernel: Annotated[str, BeforeValidator(_kernel_spec)]
    name: Label | None = None
    cmdline: Annotated[list[str], BeforeValidator(_cmdlines)] = [""]
    config: Annotated[str, BeforeValidator(_config_name)] | None = None
    swap_mib: int_in(0, 1 << 22) | None = None   # 0: no swap disk (zram runs)
    vcpus: int_in(1, 256) | None = None          # overrides guest.vcpus for this entry
    iotune: section(Iotune) | None = None        # overrides swap.iotune (disk classes)
    iotune_scale: IotuneScale | None = None      # overrides swap.iotune_scale
    memory_mib: int_in(64, 1 << 20) | None = None  # overrides guest.memory_mib
    group: section(GroupOverride) | None = None  # overrides the experiment's group
    # Only these workload labels run on this column (default: every workload).
    workloads: Annotated[list[Label], BeforeValidator(_non_empty_list)] | None = None
    # The run may pass although its technique (zswap, zram, tmem) stored nothing.
    allow_unused: Bool = False


class WorkloadEntry(Strict):
    name: one_of(tuple(WORKLOADS))
    label: Label | None = None
    params: Mapping = {}
    matrix: Annotated[dict[str, Annotated[list, BeforeValidator(_values)]],
                      BeforeValidator(_mapping)] = {}
    timeout_s: int_in(1, 86400) = 600
    # In a group: guest i starts this workload i*stagger_s after guest 0 (a phase-shifted
    # mix); overrides the group's stagger_s (and after_previous, the group's).
    stagger_s: Seconds | None = None
    after_previous: Bool | None = None


class ExperimentFile(Strict):
    name: Label | None = None
    description: Annotated[str, BeforeValidator(str)] = ""
    guest: section(Guest) = Guest()
    swap: section(Swap) = Swap()
    kernels: entries(KernelEntry) = Field(default=None, validate_default=True)
    workloads: entries(WorkloadEntry) = Field(default=None, validate_default=True)
    iterations: int_in(1, 1000) = 1
    libvirt_uri: Annotated[str, BeforeValidator(_string)] | None = None
    # Extra Debian packages in the guest image (part of its cache key).
    packages: Annotated[list[str], BeforeValidator(_packages)] = []
    backend: section(BackendOptions) = BackendOptions()
    faults: Annotated[list, BeforeValidator(_faults)] = []
    group: section(Group) = Group()


# --- errors → (field, reason, line) -------------------------------------------------------

def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (the key's line for a mapping entry), or of
    the deepest node on the way when the path leaves the file (a default, a missing key)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in node.value
                         if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if pair is None:
                return line
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def duplicate_key(node: yaml.Node | None, loc: tuple = ()) -> tuple[tuple, int, int] | None:
    """(path, line, first line) of a key given twice in one mapping: YAML loaders keep the
    last silently, so ``swap:`` written twice would drop the first without a word."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    return loc + (key.value,), line, seen[key.value]
                seen[key.value] = line
            found = duplicate_key(value, loc + (getattr(key, "value", "?"),))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = duplicate_key(item, loc + (i,))
            if found:
                return found
    return None


def problems(exc: ValidationError, root: yaml.Node | None) -> list[tuple[str, str, int | None]]:
    """(field path, reason, line) per error, in file order."""
    out = [(dotted(e["loc"]), explain(e, ExperimentFile), line_of(root, e["loc"]))
           for e in exc.errors()]
    return sorted(out, key=lambda p: p[2] or 0)
