"""Experiment files: YAML → validated, defaults filled, expanded into runs.

kernels × cmdline variants × workloads × parameter matrix × iterations. Every mistake is
reported as one ExperimentConfigError naming the file and the field path.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import ExperimentConfigError
from harness.workloads import WORKLOADS

ACCELS = ("auto", "kvm", "tcg")
SWAP_CACHES = ("none", "directsync", "writethrough")
IOTUNE_KEYS = ("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
               "total_iops_sec", "read_iops_sec", "write_iops_sec")
KERNEL_SPEC = re.compile(r"^(distro|config|tree|image):\S+$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

TOP_KEYS = {"name", "description", "guest", "swap", "kernels", "workloads", "iterations",
            "libvirt_uri", "backend", "faults"}
GUEST_DEFAULTS = {"memory_mib": 256, "vcpus": 1, "accel": "auto", "boot_timeout_s": 120}
SWAP_DEFAULTS = {"size_mib": 1024, "cache": "none", "iotune": {}}


@dataclass
class KernelChoice:
    label: str
    spec: str
    cmdline: str
    config: str | None = None    # fragment set for tree:/image: kernels
    swap_mib: int | None = None  # overrides swap.size_mib (0: no swap disk, e.g. zram)

    @property
    def key(self) -> str:
        """Identifies the kernel binary: same spec and config → same kernel."""
        return f"{self.spec}#{self.config}" if self.config else self.spec


@dataclass
class WorkloadChoice:
    label: str
    name: str
    params: dict
    timeout_s: int


@dataclass
class Run:
    experiment: str
    kernel: KernelChoice
    workload: WorkloadChoice
    iteration: int

    @property
    def label(self) -> str:
        return f"{self.kernel.label}+{self.workload.label}"

    @property
    def run_id(self) -> str:
        return f"{self.label}-i{self.iteration}"


@dataclass
class Experiment:
    path: Path
    name: str
    description: str
    guest: dict
    swap: dict
    kernels: list[KernelChoice]
    workloads: list[WorkloadChoice]
    iterations: int
    libvirt_uri: str | None
    backend: dict = field(default_factory=dict)
    faults: list = field(default_factory=list)

    def runs(self) -> list[Run]:
        """Iterations outermost, so a partial experiment still compares every config."""
        return [Run(self.name, k, w, i)
                for i in range(1, self.iterations + 1)
                for k in self.kernels for w in self.workloads]

    def resolved(self) -> dict:
        """The experiment with every default filled in, as results record it."""
        return {"name": self.name, "description": self.description, "guest": self.guest,
                "swap": self.swap, "iterations": self.iterations,
                "libvirt_uri": self.libvirt_uri, "backend": self.backend,
                "faults": self.faults,
                "kernels": [vars(k) for k in self.kernels],
                "workloads": [vars(w) for w in self.workloads]}


class _Checker:
    def __init__(self, path: Path):
        self.file = str(path)

    def fail(self, field: str, reason: str) -> None:
        raise ExperimentConfigError(self.file, field, reason)

    def keys(self, data: dict, allowed: set, where: str) -> None:
        for key in data:
            if key not in allowed:
                self.fail(f"{where}{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def mapping(self, value, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def int_in(self, value, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, f"expected an integer, got {value!r}")
        if not lo <= value <= hi:
            self.fail(where, f"{value} is out of range [{lo}, {hi}]")
        return value

    def choice(self, value, where: str, options: tuple) -> str:
        if value not in options:
            self.fail(where, f"{value!r} is not one of {', '.join(options)}")
        return value

    def label(self, value, where: str) -> str:
        if not isinstance(value, str) or not LABEL.match(value):
            self.fail(where, f"{value!r} must be letters, digits, '.', '_' or '-'")
        return value


def _guest(c: _Checker, raw) -> dict:
    data = c.mapping(raw, "guest")
    c.keys(data, set(GUEST_DEFAULTS), "guest.")
    guest = {**GUEST_DEFAULTS, **data}
    c.int_in(guest["memory_mib"], "guest.memory_mib", 64, 1 << 20)
    c.int_in(guest["vcpus"], "guest.vcpus", 1, 256)
    c.int_in(guest["boot_timeout_s"], "guest.boot_timeout_s", 5, 3600)
    c.choice(guest["accel"], "guest.accel", ACCELS)
    return guest


def _swap(c: _Checker, raw) -> dict:
    data = c.mapping(raw, "swap")
    c.keys(data, set(SWAP_DEFAULTS), "swap.")
    swap = {**SWAP_DEFAULTS, **data}
    c.int_in(swap["size_mib"], "swap.size_mib", 0, 1 << 22)
    c.choice(swap["cache"], "swap.cache", SWAP_CACHES)
    iotune = c.mapping(swap["iotune"], "swap.iotune")
    c.keys(iotune, set(IOTUNE_KEYS), "swap.iotune.")
    for key, value in iotune.items():
        c.int_in(value, f"swap.iotune.{key}", 0, 1 << 40)
    swap["iotune"] = dict(iotune)
    return swap


def _entries(c: _Checker, raw, field: str, allowed: set):
    """(field path, mapping) for each entry of a required, non-empty list of mappings."""
    if not isinstance(raw, list) or not raw:
        c.fail(field, "expected a non-empty list")
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        item = c.mapping(item, where)
        c.keys(item, allowed, f"{where}.")
        yield where, item


def _kernels(c: _Checker, raw) -> list[KernelChoice]:
    out = []
    for where, item in _entries(c, raw, "kernels",
                                {"name", "kernel", "cmdline", "config", "swap_mib"}):
        swap_mib = item.get("swap_mib")
        if swap_mib is not None:
            c.int_in(swap_mib, f"{where}.swap_mib", 0, 1 << 22)
        spec = item.get("kernel")
        if not isinstance(spec, str) or not KERNEL_SPEC.match(spec):
            c.fail(f"{where}.kernel", f"{spec!r} is not distro:NAME, config:NAME, tree:PATH "
                                      "or image:PATH")
        label = c.label(item.get("name", Path(spec.split(":", 1)[1]).name), f"{where}.name")
        config = item.get("config")
        if config is not None:
            if not spec.startswith(("tree:", "image:")):
                c.fail(f"{where}.config", "only tree: and image: kernels take a config "
                                          "(config:NAME already names one)")
            c.label(config, f"{where}.config")
        cmdlines = item.get("cmdline", "")
        variants = cmdlines if isinstance(cmdlines, list) else [cmdlines]
        for j, cmdline in enumerate(variants):
            if not isinstance(cmdline, str):
                c.fail(f"{where}.cmdline", f"expected a string or list of strings, "
                                           f"got {cmdline!r}")
            suffix = f"-{j + 1}" if len(variants) > 1 else ""
            out.append(KernelChoice(label + suffix, spec, cmdline, config, swap_mib))
    labels = [k.label for k in out]
    for label in labels:
        if labels.count(label) > 1:
            c.fail("kernels", f"name {label!r} used twice; give each entry its own name")
    return out


def _workloads(c: _Checker, raw) -> list[WorkloadChoice]:
    out = []
    for where, item in _entries(c, raw, "workloads",
                                {"name", "label", "params", "matrix", "timeout_s"}):
        name = c.choice(item.get("name"), f"{where}.name", tuple(WORKLOADS))
        workload = WORKLOADS[name]
        params = c.mapping(item.get("params"), f"{where}.params")
        matrix = c.mapping(item.get("matrix"), f"{where}.matrix")
        for key, values in matrix.items():
            if not isinstance(values, list) or not values:
                c.fail(f"{where}.matrix.{key}", "expected a non-empty list of values")
        timeout = c.int_in(item.get("timeout_s", 600), f"{where}.timeout_s", 1, 86400)
        base = c.label(item.get("label", name), f"{where}.label")
        keys = list(matrix)
        for combo in itertools.product(*(matrix[k] for k in keys)):
            merged = {**params, **dict(zip(keys, combo))}
            try:
                workload.validate(merged)
            except ValueError as err:
                c.fail(f"{where}.params", str(err))
            label = "-".join([base] + [f"{k}{v}" for k, v in zip(keys, combo)])
            out.append(WorkloadChoice(c.label(label, f"{where}.matrix"), name, merged, timeout))
    return out


def load(path: Path) -> Experiment:
    c = _Checker(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        c.fail("(file)", f"cannot read: {err.strerror}")
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        c.fail(f"line {mark.line + 1}" if mark else "(yaml)", f"invalid YAML: "
               f"{getattr(err, 'problem', None) or err}")
    return _from_data(c, path, raw)


def _from_data(c: _Checker, path: Path, raw) -> Experiment:
    data = c.mapping(raw, "(top level)")
    c.keys(data, TOP_KEYS, "")
    name = c.label(data.get("name", path.stem), "name")
    iterations = c.int_in(data.get("iterations", 1), "iterations", 1, 1000)
    uri = data.get("libvirt_uri")
    if uri is not None and not isinstance(uri, str):
        c.fail("libvirt_uri", "expected a string")
    backend = c.mapping(data.get("backend"), "backend")
    from harness.backend import validate as validate_backend
    problem = validate_backend(backend)
    if problem:
        c.fail("backend", problem)
    from harness.faults import validate as validate_faults
    faults = data.get("faults", [])
    problem = validate_faults(faults)
    if problem:
        c.fail("faults", problem)
    return Experiment(path=path, name=name, description=str(data.get("description", "")),
                      guest=_guest(c, data.get("guest")), swap=_swap(c, data.get("swap")),
                      kernels=_kernels(c, data.get("kernels")),
                      workloads=_workloads(c, data.get("workloads")),
                      iterations=iterations, libvirt_uri=uri, backend=dict(backend),
                      faults=list(faults))


def adhoc(kernel: str, cmdline: str, memory_mib: int, swap_mib: int,
          backend: dict | None = None, config: str | None = None) -> Experiment:
    """A one-run experiment for ``tmemlab boot``, validated like a file would be."""
    entry = {"name": "boot", "kernel": kernel, "cmdline": cmdline}
    if config:
        entry["config"] = config
    data = {"name": "boot", "guest": {"memory_mib": memory_mib}, "backend": backend or {},
            "swap": {"size_mib": swap_mib},
            "kernels": [entry],
            "workloads": [{"name": "pressure", "label": "shell"}]}
    path = Path("<command line>")
    return _from_data(_Checker(path), path, data)
