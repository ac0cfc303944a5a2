"""Settings in effect: what a run asked for, read back from the booted guest, compared.

A run is labelled by its kernel entry (``zswap-lz4``, ``zram``...), but the label is only a
name: the kernel silently ignores a mistyped ``zswap.enable=1`` (any unknown dotted
parameter, init/main.c ``unknown_bootoption``), zswap falls back to its default compressor
when the one asked for does not exist (mm/zswap.c ``__zswap_param_set``), and swap areas
switched on without a priority get decreasing ones in ``swapon`` order (mm/swapfile.c).
So every setting that shapes a run is derived from the experiment (kernel command line,
kernel config defaults, swap disk, zram size, workload THP) and compared with what the
guest reports; a mismatch fails the run before its workload starts.

Read, then parse, then compare (STYLE 5): ``readback_script`` is the one SSH command,
``parse_readback`` turns its text into a dict, ``requested`` and ``verify`` are pure.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from harness.run.parsers import parse_swaps

# Parameters that are the guest rc's own (guest_images/recipe/rc), not the kernel's.
RC_PARAMS = ("tmemlab.",)
# kstrtobool(): what a bool module parameter accepts (lib/kstrtox.c).
_TRUE = {"1", "y", "Y", "yes", "on", "true"}
_FALSE = {"0", "n", "N", "no", "off", "false"}
_SIZE = re.compile(r"^(\d+)([KMGT]?)$", re.I)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# A swap area's usable size is its size less the header page (mkswap, 4 KiB on x86).
SWAP_HEADER_KIB = 4


@dataclass(frozen=True)
class Requested:
    """One setting the run asks for: ``name`` as a user would write it, ``source`` is where
    the request comes from (command line, kernel config, swap disk, workload)."""
    name: str
    value: str
    source: str
    check: Callable[[dict], tuple[str, bool]]   # effective facts → (effective value, ok)


@dataclass(frozen=True)
class Setting:
    name: str
    requested: str
    effective: str
    source: str
    ok: bool

    def to_json(self) -> dict:
        return {"requested": self.requested, "effective": self.effective,
                "source": self.source, "ok": self.ok}

    def __str__(self) -> str:
        return (f"{self.name}: requested {self.requested} ({self.source}), "
                f"in effect {self.effective}")


def cmdline_params(cmdline: str) -> list[tuple[str, str | None]]:
    """Kernel command line → [(name, value or None)]; '-' and '_' are one in parameter
    names (kernel/params.c parameq), so names come back with '_'."""
    out = []
    for token in shlex.split(cmdline):
        name, sep, value = token.partition("=")
        out.append((name.replace("-", "_"), value if sep else None))
    return out


def module_param(name: str) -> tuple[str, str] | None:
    """'zswap.compressor' → ('zswap', 'compressor'); None for non-module parameters."""
    if "." not in name or name.startswith(RC_PARAMS):
        return None
    module, _, param = name.partition(".")
    return (module, param) if module and param else None


def readback_script(cmdline: str) -> str:
    """One shell command printing every fact ``parse_readback`` needs, in sections."""
    modules = sorted({"zswap", "tmem", "zram"} | {
        mp[0] for name, _ in cmdline_params(cmdline) if (mp := module_param(name))})
    mods = " ".join(shlex.quote(m) for m in modules)
    return (
        "echo '@@ uname'; uname -r; "
        "echo '@@ cmdline'; cat /proc/cmdline; "
        "echo '@@ swaps'; cat /proc/swaps; "
        f"echo '@@ modules'; for m in {mods}; do [ -d /sys/module/$m ] && echo $m; done; "
        f"echo '@@ params'; for m in {mods}; do "
        "for f in /sys/module/$m/parameters/*; do [ -r \"$f\" ] && "
        "echo \"$m.${f##*/}=$(cat \"$f\" 2>/dev/null)\"; done; done 2>/dev/null; "
        "echo '@@ zram'; for f in disksize comp_algorithm; do "
        "[ -r /sys/block/zram0/$f ] && echo \"$f=$(cat /sys/block/zram0/$f)\"; done; "
        "echo '@@ thp'; cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; "
        "echo '@@ cpus'; grep -c ^processor /proc/cpuinfo; "
        "echo '@@ meminfo'; grep MemTotal /proc/meminfo; "
        "echo '@@ end'")


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@ "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def _bracketed(text: str) -> str | None:
    """'always [madvise] never' → 'madvise' (sysfs shows the current choice in brackets)."""
    match = re.search(r"\[([^\]]+)\]", text)
    return match.group(1) if match else (text.strip() or None)


def parse_readback(text: str) -> dict:
    """``readback_script`` output → {"uname_r", "cmdline", "swaps", "modules", "params",
    "zram", "thp", "cpus", "mem_total_kb"}; absent facts are absent or None, never guessed."""
    s = _sections(text)
    if "end" not in s:
        raise ValueError("guest settings read-back was cut short (no end marker)")
    params = {}
    for line in s.get("params", []):
        key, sep, value = line.partition("=")
        if sep:
            params[key] = value.strip()
    zram = {}
    for line in s.get("zram", []):
        key, sep, value = line.partition("=")
        if sep:
            zram[key] = value.strip()
    thp = " ".join(s.get("thp", [])).strip()
    mem = re.search(r"(\d+)", " ".join(s.get("meminfo", [])))
    cpus = "".join(s.get("cpus", [])).strip()
    return {
        "uname_r": "".join(s.get("uname", [])).strip(),
        "cmdline": " ".join(s.get("cmdline", [])).strip(),
        "swaps": parse_swaps("\n".join(s.get("swaps", []))),
        "modules": sorted(m.strip() for m in s.get("modules", []) if m.strip()),
        "params": params,
        "zram": zram,
        "thp": _bracketed(thp) if thp else None,
        "cpus": int(cpus) if cpus.isdigit() else None,
        "mem_total_kb": int(mem.group(1)) if mem else None,
    }


def parse_size(text: str) -> int | None:
    """'128M' → bytes (the zram disksize syntax, lib/cmdline.c memparse); None if not one."""
    match = _SIZE.match(text.strip())
    return int(match.group(1)) * _UNITS[match.group(2).upper()] if match else None


def same_value(requested: str | None, effective: str) -> bool:
    """Module parameter equality as the kernel parses it: bools by kstrtobool (a bare
    ``mod.flag`` means true), numbers as integers, strings exactly."""
    if requested is None:
        requested = "Y"
    if effective in ("Y", "N"):
        want = True if requested in _TRUE else False if requested in _FALSE else None
        return want is not None and want == (effective == "Y")
    if requested.lstrip("-").isdigit() and effective.lstrip("-").isdigit():
        return int(requested) == int(effective)
    return requested == effective


# ---- what a run asks for -------------------------------------------------------------

def _param_check(module: str, param: str, value: str | None):
    def check(facts: dict) -> tuple[str, bool]:
        if module not in facts["modules"]:
            return f"no {module} in this kernel (no /sys/module/{module})", False
        key = f"{module}.{param}"
        if key not in facts["params"]:
            known = sorted(k.split(".", 1)[1] for k in facts["params"]
                           if k.startswith(module + "."))
            return (f"{module} has no parameter {param!r} "
                    f"(has: {', '.join(known) or 'none'})"), False
        effective = facts["params"][key]
        return effective, same_value(value, effective)
    return check


def _in_cmdline(tokens: list[str]):
    def check(facts: dict) -> tuple[str, bool]:
        booted = facts["cmdline"].split()
        missing = [t for t in tokens if t not in booted]
        return (f"missing {' '.join(missing)}" if missing else "all present"), not missing
    return check


def _swap_device(device: str, size_kib: int):
    def check(facts: dict) -> tuple[str, bool]:
        found = [s for s in facts["swaps"] if s["device"] == device]
        if not found:
            on = ", ".join(s["device"] for s in facts["swaps"]) or "none"
            return f"not a swap area (swaps on: {on})", False
        size = found[0]["size_kb"]
        return f"{size} KiB", abs(size - (size_kib - SWAP_HEADER_KIB)) <= SWAP_HEADER_KIB
    return check


def _only_swaps(devices: list[str]):
    def check(facts: dict) -> tuple[str, bool]:
        on = sorted(s["device"] for s in facts["swaps"])
        return ", ".join(on) or "none", on == sorted(devices)
    return check


def _zram_first(facts: dict) -> tuple[str, bool]:
    prio = {s["device"]: s["priority"] for s in facts["swaps"]}
    if "/dev/zram0" not in prio:
        return "zram0 not swapping", False
    others = {d: p for d, p in prio.items() if d != "/dev/zram0"}
    text = ", ".join(f"{d} {p}" for d, p in sorted(prio.items(), key=lambda i: -i[1]))
    return text, all(prio["/dev/zram0"] > p for p in others.values())


def _zram_value(key: str, want: str):
    def check(facts: dict) -> tuple[str, bool]:
        raw = facts["zram"].get(key)
        if raw is None:
            return "no zram0", False
        effective = _bracketed(raw) if key == "comp_algorithm" else raw
        if key == "disksize":
            return raw, raw.isdigit() and int(raw) == parse_size(want)
        return effective or "", effective == want
    return check


def _thp(want: str):
    def check(facts: dict) -> tuple[str, bool]:
        mode = facts.get("thp")
        if mode is None:
            return "no THP in this kernel", False
        return mode, mode == want if want != "not never" else mode != "never"
    return check


def _config_str(option: Callable[[str], str | None], name: str) -> str | None:
    value = option(name)
    return value.strip('"') if value else None


def _cpus(want: int):
    def check(facts: dict) -> tuple[str, bool]:
        cpus = facts.get("cpus")
        return (str(cpus) if cpus is not None else "unknown"), cpus == want
    return check


def requested(cmdline: str, option: Callable[[str], str | None], swap_mib: int,
              workload_params: dict | None = None, vcpus: int | None = None
              ) -> list[Requested]:
    """Every setting the run asks for.

    ``cmdline``: the kernel command line the harness boots with; ``option(NAME)``: the
    kernel's CONFIG_NAME value (``Kernel.has_option``); ``swap_mib``: the swap disk (0: none).
    Kernel config defaults count as requests too: a config: kernel named zswap-lz4 asks for
    lz4 through CONFIG_ZSWAP_COMPRESSOR_DEFAULT, not through the command line.
    """
    params = cmdline_params(cmdline)
    given = {name: value for name, value in params}
    out: list[Requested] = []
    if cmdline.strip():
        out.append(Requested("kernel command line", cmdline.strip(), "experiment",
                             _in_cmdline(shlex.split(cmdline))))
    for name, value in params:
        mp = module_param(name)
        if mp:
            out.append(Requested(name, value if value is not None else "Y", "cmdline",
                                 _param_check(*mp, value)))
    if option("ZSWAP") == "y":
        defaults = {"zswap.enabled": "Y" if option("ZSWAP_DEFAULT_ON") == "y" else "N",
                    "zswap.compressor": _config_str(option, "ZSWAP_COMPRESSOR_DEFAULT"),
                    "zswap.zpool": _config_str(option, "ZSWAP_ZPOOL_DEFAULT")}
        for name, value in defaults.items():
            if value and name not in given:
                out.append(Requested(name, value, "kernel config", _param_check(
                    "zswap", name.split(".")[1], value)))
    swaps = []
    if swap_mib > 0:
        swaps.append("/dev/vdb")
        out.append(Requested("swap /dev/vdb", f"{swap_mib * 1024 - SWAP_HEADER_KIB} KiB",
                             "swap disk", _swap_device("/dev/vdb", swap_mib * 1024)))
    zram = given.get("tmemlab.zram")
    if zram:
        size = parse_size(zram)
        swaps.append("/dev/zram0")
        out.append(Requested("zram0 disksize", zram, "cmdline", _zram_value("disksize", zram)))
        if size:
            out.append(Requested("swap /dev/zram0", f"{size // 1024 - SWAP_HEADER_KIB} KiB",
                                 "cmdline", _swap_device("/dev/zram0", size // 1024)))
        out.append(Requested("zram0 swap priority", "above every other swap area",
                             "cmdline", _zram_first))
        algo, source = given.get("tmemlab.zram_comp"), "cmdline"
        if not algo:
            algo, source = _config_str(option, "ZRAM_DEF_COMP"), "kernel config"
        if algo:
            out.append(Requested("zram0 comp_algorithm", algo, source,
                                 _zram_value("comp_algorithm", algo)))
    out.append(Requested("swap areas", ", ".join(sorted(swaps)) or "none", "experiment",
                         _only_swaps(swaps)))
    thp = given.get("transparent_hugepage")
    if thp:
        out.append(Requested("transparent_hugepage", thp, "cmdline", _thp(thp)))
    if vcpus is not None:
        out.append(Requested("vcpus", str(vcpus), "experiment", _cpus(vcpus)))
    if (workload_params or {}).get("thp"):
        out.append(Requested("transparent_hugepage", "not never", "workload thp: true",
                             _thp("not never")))
    return out


def verify(wanted: list[Requested], facts: dict) -> list[Setting]:
    """Each request against the guest's facts (``parse_readback``)."""
    out = []
    for req in wanted:
        effective, ok = req.check(facts)
        out.append(Setting(req.name, req.value, effective, req.source, ok))
    return out


def mismatches(settings: list[Setting]) -> list[Setting]:
    return [s for s in settings if not s.ok]
