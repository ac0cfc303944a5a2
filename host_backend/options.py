"""Backend options, defined once.

The experiment's ``backend:`` mapping (harness/experiment/schema.py embeds BackendOptions), the
runner's backend argv (harness/run/backend.py) and ``tmemlab backend serve`` flags (cli.py)
all validate through this module, so a value one of them accepts the others accept too.

Also the small pydantic glue the harness's experiment schema shares: field types whose
errors read as one plain sentence, and ``explain`` that turns a pydantic error into
(field path, reason). This module imports nothing from the harness.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from .codec import CODECS

SIZE = re.compile(r"^(\d+)([KMGT]?)(i?B?)?$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
COMPRESSIONS = tuple(CODECS)


# --- field types: each raises ValueError with the sentence the user reads ----------------

def parse_size(value: Any) -> int:
    """Bytes from an integer or a size string: 4096, 512M, 512MiB, 2G (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = SIZE.match(value.strip())
        if m:
            return int(m.group(1)) * SIZE_UNITS[m.group(2).upper()]
    raise ValueError(f"bad size {value!r} (use bytes or e.g. 4096, 512M, 512MiB, 2G)")


def int_in(lo: int, hi: int):
    """An integer in [lo, hi]; a bool or a numeric string is not an integer."""
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range [{lo}, {hi}]")
        return value
    return Annotated[int, BeforeValidator(check)]


def one_of(options: tuple[str, ...]):
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"{value!r} is not one of {', '.join(options)}")
        return value
    return Annotated[str, BeforeValidator(check)]


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


Bool = Annotated[bool, BeforeValidator(_bool)]
Size = Annotated[int, BeforeValidator(parse_size)]
Count = int_in(0, 1 << 62)


class Strict(BaseModel):
    """Base of every schema model: unknown fields are mistakes."""
    model_config = ConfigDict(extra="forbid")


# --- the backend's options ------------------------------------------------------------------

class BackendOptions(Strict):
    enabled: Bool | None = None        # None: on when a kernel is tmem-capable
    compression: one_of(COMPRESSIONS) = "none"
    cap: Size | None = None            # host memory cap for all stored pages, bytes;
    #                                    None: default_cap() (a share of host RAM)
    max_pages: Count | None = None     # per-guest page quota; None: the run's swap size
    max_bytes: Size | None = None      # per-guest byte quota
    weight: Count = 100                # eviction weight
    durable: Bool = False              # keep persistent pages in LMDB: survives kill -9
    durable_sync: Bool = False         # and fdatasync before each reply: survives power loss
    dedup: Bool = False

    @model_validator(mode="after")
    def _sync_needs_durable(self):
        if self.durable_sync and not self.durable:
            raise ValueError("durable_sync: needs durable: true")
        return self


# --- default bounds: nothing a guest sends can make the backend grow without limit --------
#
# Host cap: 20% of host RAM, zswap's own default pool limit (mm/zswap.c max_pool_percent
# = 20) for the same kind of pool, a share of RAM holding other memory's swapped pages. It
# counts stored bytes plus the per-page overhead, which tracks the backend's heap within
# ~10% (store.py); the guests' own RAM (QEMU) is the rest. Host RAM is MemTotal, or the
# cgroup's memory.max when lower (in a container MemTotal is the whole machine's).
# Per-guest quota: the run's swap size in pages (the runner passes it when it adds a
# guest): frontswap has no more slots than that, so a guest that tries to store more is
# not a frontswap guest.

DEFAULT_CAP_PERCENT = 20
PAGE_SIZE = 4096
MEMINFO = "/proc/meminfo"
CGROUP_MEMORY_MAX = "/sys/fs/cgroup/memory.max"


def parse_memtotal(meminfo: str) -> int:
    """MemTotal in bytes from /proc/meminfo text."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemTotal line in /proc/meminfo")


def host_ram_bytes(meminfo: str = MEMINFO, cgroup_max: str = CGROUP_MEMORY_MAX) -> int:
    """The RAM this host (or container) has: MemTotal, capped by cgroup v2 memory.max."""
    with open(meminfo) as f:
        ram = parse_memtotal(f.read())
    try:
        with open(cgroup_max) as f:
            limit = f.read().strip()
    except OSError:
        return ram
    return min(ram, int(limit)) if limit.isdigit() else ram


def default_cap(ram_bytes: int | None = None) -> int:
    """The default host cap: DEFAULT_CAP_PERCENT of host RAM, bytes."""
    ram = host_ram_bytes() if ram_bytes is None else ram_bytes
    return ram * DEFAULT_CAP_PERCENT // 100


def swap_quota_pages(swap_mib: int | None) -> int | None:
    """The default page quota of a guest whose swap disk has ``swap_mib`` MiB: one page
    per swap slot. None without a swap disk (zram-only runs: frontswap's slots are the zram
    device's, whose size the runner does not know; the host cap still holds)."""
    return swap_mib * (1 << 20) // PAGE_SIZE if swap_mib else None


def with_defaults(data: dict, ram_bytes: int | None = None) -> dict:
    """The options the user set (validated, sizes in bytes) plus the default host cap where
    none was given: what the backend is started with and what the run record shows."""
    out = check(data).model_dump(exclude_unset=True)
    if out.get("cap") is None:
        out["cap"] = default_cap(ram_bytes)
    return out


def human(size: int) -> str:
    """4718592 → '4.5 MiB'."""
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


class OptionsError(ValueError):
    """An invalid option: ``field`` (a dotted path) and a one-sentence ``reason``."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def check(data: dict) -> BackendOptions:
    """``data`` validated (sizes become bytes), or OptionsError for its first problem."""
    try:
        return BackendOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OptionsError(dotted(first["loc"]), explain(first, BackendOptions)) from None


# --- pydantic errors → one sentence ---------------------------------------------------------

def dotted(loc: tuple) -> str:
    """('kernels', 0, 'kernel') → 'kernels[0].kernel'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_of(annotation) -> type[BaseModel] | None:
    """The model inside an annotation (Optional, list[...], Annotated), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    model = root
    for part in loc:
        if isinstance(part, int):
            continue  # list index: same element model
        info = model.model_fields.get(part) if model else None
        model = _model_of(info.annotation) if info else None
    return model


_TYPE_NAMES = {"dict_type": "a mapping", "model_type": "a mapping", "list_type": "a list",
               "string_type": "a string", "int_type": "an integer", "bool_type": "true or false"}


def explain(error: dict, root: type[BaseModel]) -> str:
    """One sentence for one pydantic error dict (from ``ValidationError.errors()``)."""
    kind = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "extra_forbidden":
        parent = _model_at(root, error["loc"][:-1])
        allowed = ", ".join(parent.model_fields) if parent else "?"
        return f"unknown field (allowed: {allowed})"
    if kind == "missing":
        return "required field is missing"
    if kind in _TYPE_NAMES:
        got = error.get("input")
        return f"expected {_TYPE_NAMES[kind]}, got {type(got).__name__} {got!r}"
    return error["msg"]
