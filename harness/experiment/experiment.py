"""Experiment files: YAML → validated, defaults filled, expanded into runs.

kernels × cmdline variants × workloads × parameter matrix × iterations. The schema is
harness/experiment/schema.py (pydantic, shared with the backend's own options); every mistake is
reported as one ExperimentConfigError naming the file, the YAML line and the field path.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.build import images
from harness.errors import ExperimentConfigError
from harness.experiment import schema
from harness.experiment.schema import ACCELS, IOTUNE_KEYS, KERNEL_SPEC, LABEL, SWAP_CACHES  # noqa: F401
from harness.run.workloads import WORKLOADS


@dataclass
class KernelChoice:
    label: str
    spec: str
    cmdline: str
    config: str | None = None    # fragment set for tree:/image: kernels
    swap_mib: int | None = None  # overrides swap.size_mib (0: no swap disk, e.g. zram)
    allow_unused: bool = False   # the technique may store nothing (checks.py)
    vcpus: int | None = None     # overrides guest.vcpus
    iotune: dict | None = None   # overrides swap.iotune
    iotune_scale: str | float | None = None  # overrides swap.iotune_scale
    memory_mib: int | None = None  # overrides guest.memory_mib
    group: dict | None = None      # overrides the experiment's group (schema.GroupOverride)
    workloads: list[str] | None = None  # only these workload labels run on this column

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
    stagger_s: float | None = None  # overrides the group's stagger_s
    after_previous: bool | None = None  # overrides the group's after_previous


@dataclass
class Member:
    """One guest of a group run: its position, shape and when its workload starts."""
    index: int
    memory_mib: int | None      # None: the run's
    weight: int                 # backend eviction weight
    quota_mib: int | None       # backend page quota in MiB; None: the swap size
    start_delay_s: float        # after the group's workloads start (or, after_previous,
                                # after the previous guest's workload ended)
    params: dict                # the workload's params with this guest's merged over them
    workload: str | None = None  # its own workload (then params are its own only)
    after_previous: bool = False  # waits for guest index-1's workload to end first


@dataclass
class Group:
    members: list[Member]

    @property
    def guests(self) -> int:
        return len(self.members)


def merged_group(base: dict, override: dict) -> dict:
    """The experiment's group with a kernel entry's changes. An arm that changes the
    number of guests without giving members gets default ones, not the experiment's."""
    shape = {**base, **{k: v for k, v in override.items() if v is not None}}
    if override.get("members") is None and len(shape["members"]) not in (0, shape["guests"]):
        shape["members"] = []
    return shape


def resolve_group(base: dict, kernel: KernelChoice, workload: WorkloadChoice) -> Group | None:
    """The group a (kernel, workload) arm runs as: the experiment's ``group`` with the
    kernel entry's changes and the workload's stagger; None for a single guest."""
    shape = merged_group(base, kernel.group or {})
    stagger = shape["stagger_s"] if workload.stagger_s is None else workload.stagger_s
    after = bool(shape.get("after_previous") if workload.after_previous is None
                 else workload.after_previous)
    if shape["guests"] < 2:
        return None
    members = shape["members"] or [{} for _ in range(shape["guests"])]
    return Group([Member(i, m.get("memory_mib"), m.get("weight", 100), m.get("quota_mib"),
                         _start_delay(i, stagger, after) + m.get("start_delay_s", 0.0),
                         member_params(workload, m), m.get("workload"), after and i > 0)
                  for i, m in enumerate(members)])


def _start_delay(index: int, stagger: float, after_previous: bool) -> float:
    """Seconds guest ``index`` waits: i*stagger after the group's start, or (after_previous)
    stagger after the previous guest's workload ended (guest 0 never waits)."""
    if after_previous:
        return stagger if index else 0.0
    return index * stagger


def member_params(workload: WorkloadChoice, member: dict) -> dict:
    """A member's params: merged over the workload's, or its own when it runs another."""
    own = member.get("params") or {}
    if member.get("workload") not in (None, workload.name):
        return dict(own)
    return {**workload.params, **own}


@dataclass
class Run:
    experiment: str
    kernel: KernelChoice
    workload: WorkloadChoice
    iteration: int
    group: Group | None = None  # several guests at once (harness/run/group.py)

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
    group: dict = field(default_factory=lambda: {"guests": 1, "stagger_s": 0.0,
                                                 "after_previous": False, "members": []})
    packages: tuple[str, ...] = ()   # extra Debian packages in the guest image

    def runs(self) -> list[Run]:
        """Iterations outermost, so a partial experiment still compares every config."""
        return [Run(self.name, k, w, i, resolve_group(self.group, k, w))
                for i in range(1, self.iterations + 1)
                for k in self.kernels for w in self.workloads
                if k.workloads is None or w.label in k.workloads]

    def resolved(self) -> dict:
        """The experiment with every default filled in, as results record it."""
        return {"name": self.name, "description": self.description, "guest": self.guest,
                "swap": self.swap, "iterations": self.iterations,
                "libvirt_uri": self.libvirt_uri, "backend": self.backend,
                "faults": self.faults, "group": self.group, "packages": list(self.packages),
                "kernels": [vars(k) for k in self.kernels],
                "workloads": [vars(w) for w in self.workloads]}


class _Checker:
    """Raises ExperimentConfigError for a field path, with its line in the YAML file."""

    def __init__(self, path: Path, root: yaml.Node | None = None):
        self.file, self.root = str(path), root

    def fail(self, field: str | tuple, reason: str, line: int | None = None) -> None:
        if isinstance(field, tuple):
            line = line or schema.line_of(self.root, field)
            field = schema.dotted(field)
        raise ExperimentConfigError(self.file, field, reason, line)

    def label(self, value, where: tuple) -> str:
        if not isinstance(value, str) or not LABEL.match(value):
            self.fail(where, f"{value!r} must be letters, digits, '.', '_' or '-'")
        return value


def _kernels(c: _Checker, entries: list[schema.KernelEntry]) -> list[KernelChoice]:
    out = []
    for i, item in enumerate(entries):
        where = ("kernels", i)
        if item.config is not None and not item.kernel.startswith(("tree:", "image:")):
            c.fail(where + ("config",), "only tree: and image: kernels take a config "
                                        "(config:NAME already names one)")
        label = item.name or c.label(Path(item.kernel.split(":", 1)[1]).name, where + ("name",))
        for j, cmdline in enumerate(item.cmdline):
            suffix = f"-{j + 1}" if len(item.cmdline) > 1 else ""
            iotune = None if item.iotune is None else item.iotune.model_dump(exclude_none=True)
            group = None if item.group is None else item.group.model_dump(exclude_none=True)
            out.append(KernelChoice(label + suffix, item.kernel, cmdline, item.config,
                                    item.swap_mib, item.allow_unused, item.vcpus,
                                    iotune, item.iotune_scale, item.memory_mib, group,
                                    item.workloads))
    labels = [k.label for k in out]
    for label in labels:
        if labels.count(label) > 1:
            c.fail(("kernels",), f"name {label!r} used twice; give each entry its own name")
    return out


def _workloads(c: _Checker, entries: list[schema.WorkloadEntry]) -> list[WorkloadChoice]:
    out = []
    for i, item in enumerate(entries):
        where = ("workloads", i)
        workload = WORKLOADS[item.name]
        keys = list(item.matrix)
        for combo in itertools.product(*(item.matrix[k] for k in keys)):
            merged = {**item.params, **dict(zip(keys, combo))}
            try:
                workload.validate(merged)
            except ValueError as err:
                c.fail(where + ("params",), str(err))
            if hasattr(workload, "staged"):
                merged = _host_files(c, where + ("params",), merged)
            label = "-".join([item.label or item.name] + [f"{k}{v}" for k, v in zip(keys, combo)])
            out.append(WorkloadChoice(c.label(label, where + ("matrix",)), item.name, merged,
                                      item.timeout_s, item.stagger_s, item.after_previous))
    return out


def _host_files(c: _Checker, where: tuple, params: dict) -> dict:
    """A command workload's ``script`` and ``files`` HOST paths, relative to the experiment
    file's folder, made absolute; one that is not a readable file fails naming it."""
    base = Path(c.file).resolve().parent
    params = dict(params)

    def resolve(text: str, field: tuple) -> str:
        path = Path(text).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file() or not os.access(path, os.R_OK):
            c.fail(where + field, f"{text}: no such file (looked for {path})")
        return str(path)

    if "script" in params:
        params["script"] = resolve(params["script"], ("script",))
    files = []
    for i, item in enumerate(params.get("files", [])):
        host, guest = item.rsplit(":", 1)
        files.append(f"{resolve(host, ('files', i))}:{guest}")
    if "files" in params:
        params["files"] = files
    return params


def _check_groups(c: _Checker, model: schema.ExperimentFile, exp: Experiment) -> None:
    """A members list has one entry per guest; each guest's merged params are valid."""
    shapes = [(("group",), model.group.model_dump())] + [
        (("kernels", i, "group"), item.group.model_dump(exclude_none=True))
        for i, item in enumerate(model.kernels) if item.group is not None]
    labels = [w.label for w in exp.workloads]
    for i, item in enumerate(model.kernels):
        for j, wanted in enumerate(item.workloads or []):
            if wanted not in labels:
                c.fail(("kernels", i, "workloads", j),
                       f"no workload labelled {wanted!r} (have: {', '.join(labels)})")
    if exp.faults and any(run.group for run in exp.runs()):
        c.fail(("faults",), "fault injection targets one guest: not with group runs "
                            "(group.guests > 1)")
    for where, shape in shapes:
        full = merged_group(exp.group, shape) if where[0] == "kernels" else shape
        if full["members"] and len(full["members"]) != full["guests"]:
            c.fail(where + ("members",), f"{len(full['members'])} members for "
                                         f"{full['guests']} guests: give one per guest")
        for i, member in enumerate(shape.get("members") or []):
            for workload in exp.workloads:
                try:
                    WORKLOADS[member.get("workload") or workload.name].validate(
                        member_params(workload, member))
                except ValueError as err:
                    c.fail(where + ("members", i, "params"),
                           f"{err} (with workload {workload.label})")


def _compose(c: _Checker, path: Path) -> tuple[object, yaml.Node | None]:
    """(data, node tree) of the file: one parse, so every value keeps its line."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        c.fail("(file)", f"cannot read: {err.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        c.fail("(file)", f"not UTF-8 text: byte 0x{raw[err.start]:02x} at offset {err.start}",
               line=raw.count(b"\n", 0, err.start) + 1)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        c.fail("(yaml)", f"invalid YAML: {getattr(err, 'problem', None) or err}",
               line=mark.line + 1 if mark else None)
    finally:
        loader.dispose()
    twice = schema.duplicate_key(node)
    if twice:
        c.fail(schema.dotted(twice[0]), f"given twice (first on line {twice[2]})", twice[1])
    return data, node


def load(path: Path) -> Experiment:
    c = _Checker(path)
    data, c.root = _compose(c, path)
    return _from_data(c, path, data)


def _from_data(c: _Checker, path: Path, data) -> Experiment:
    if not isinstance(data, dict):
        c.fail("(top level)", f"expected a mapping, got {type(data).__name__}", line=1)
    try:
        model = schema.ExperimentFile.model_validate(data)
    except ValidationError as exc:
        field, reason, line = schema.problems(exc, c.root)[0]
        c.fail(field, reason, line)
    name = model.name or c.label(path.stem, ("name",))
    swap = model.swap.model_dump()
    swap["iotune"] = model.swap.iotune.model_dump(exclude_none=True)
    exp = Experiment(path=path, name=name, description=model.description,
                     guest=model.guest.model_dump(), swap=swap,
                     kernels=_kernels(c, model.kernels),
                     workloads=_workloads(c, model.workloads),
                     iterations=model.iterations, libvirt_uri=model.libvirt_uri,
                     backend=model.backend.model_dump(exclude_unset=True),
                     faults=list(model.faults), group=model.group.model_dump(),
                     packages=tuple(model.packages))
    _check_groups(c, model, exp)
    _check_packages(c, model.packages)
    _check_tree_disks(c, exp)
    return exp


def _check_tree_disks(c: _Checker, exp: Experiment) -> None:
    """A kernel-build guest gets its tree as a third virtio disk; with no swap disk it
    would be the guest's /dev/vdb, the name the guest and its samplers give the swap disk."""
    for i, kernel in enumerate(exp.kernels):
        swap = exp.swap["size_mib"] if kernel.swap_mib is None else kernel.swap_mib
        if swap == 0 and any(hasattr(WORKLOADS[w.name], "tree") for w in exp.workloads
                             if kernel.workloads is None or w.label in kernel.workloads):
            c.fail(("kernels", i, "swap_mib"), "kernel-build needs a swap disk beside its "
                   "tree disk (with none, the tree would be the guest's /dev/vdb)")


def _check_packages(c: _Checker, names: list[str]) -> None:
    """Each extra package must be installable here: found now, not ten minutes into an
    image build."""
    for name in images.unknown_packages(names):
        c.fail(("packages", names.index(name)),
               f"{name}: no such package in this host's apt sources (apt-cache show "
               f"finds no candidate; mmdebstrap fetches through the same sources)")


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
