"""Identity of results folders: what `tmemlab show` prints and what compare warns about."""

from __future__ import annotations

from typing import Any

from harness.report.compare.loader import ResultsDir

# (what, path in versions.json) — compared across folders.
FOLDER_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("host", ("host", "hostname")),
    ("host CPU", ("host", "cpu_model")),
    ("accelerator", ("accel",)),
    ("QEMU version", ("qemu",)),
    ("libvirt version", ("libvirt",)),
)

# (what, path in runs/<run_id>.json) — compared across columns.
RUN_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accelerator", ("guest", "accel")),
    ("guest memory (MiB)", ("guest", "memory_mib")),
    ("guest vCPUs", ("guest", "vcpus")),
    ("guest swap (MiB)", ("guest", "swap_mib")),
)

# Lines of `tmemlab show`: (title, path in versions.json).
SHOW_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hostname", ("host", "hostname")),
    ("host CPU", ("host", "cpu_model")),
    ("host CPUs", ("host", "nproc")),
    ("host memory (KiB)", ("host", "mem_total_kib")),
    ("accel", ("accel",)),
    ("QEMU", ("qemu",)),
    ("libvirt", ("libvirt",)),
    ("tmemlab commit", ("tmemlab_commit",)),
    ("image hash", ("image", "hash")),
    ("image recipe", ("image", "recipe")),
)


def dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _differs(what: str, seen: dict[str, list[str]]) -> str | None:
    if len(seen) < 2:
        return None
    parts = "; ".join(f"{value} ({', '.join(owners)})" for value, owners in seen.items())
    return f"compared runs differ in {what}: {parts}"


def folder_warnings(dirs: list[ResultsDir]) -> list[str]:
    out = []
    for what, path in FOLDER_FIELDS:
        seen: dict[str, list[str]] = {}
        for d in dirs:
            value = dig(d.versions, path)
            if value is not None:
                seen.setdefault(str(value), []).append(d.name)
        msg = _differs(what, seen)
        if msg:
            out.append(msg)
    return out


def run_warnings(columns: list) -> list[str]:
    """Warnings for run fields that differ between (or inside) columns."""
    out = []
    for what, path in RUN_FIELDS:
        seen: dict[str, list[str]] = {}
        for col in columns:
            for run in col.runs:
                value = dig(run.data, path)
                if value is None:
                    continue
                owners = seen.setdefault(str(value), [])
                if col.key not in owners:
                    owners.append(col.key)
        msg = _differs(what, seen)
        if msg:
            out.append(msg)
    return out


def host_of(data: dict[str, Any], versions: dict[str, Any] | None = None) -> str | None:
    """Where one run ran: its own record (tmemlab merge keeps it), else its folder's."""
    return dig(data, ("host", "hostname")) or dig(versions or {}, ("host", "hostname"))


def mixed_host_warnings(columns: list, versions: dict[str, dict] | None = None) -> list[str]:
    """A column whose runs ran on more than one host (shards merged from several machines)
    pools their iterations into one sample: said loudly, with the way to split them."""
    out = []
    for col in columns:
        counts: dict[str, int] = {}
        for run in col.runs:
            host = host_of(run.data, (versions or {}).get(str(run.source))) or "?"
            counts[host] = counts.get(host, 0) + 1
        if len(counts) > 1:
            parts = ", ".join(f"{h} ({n} runs)" for h, n in counts.items())
            out.append(f"{col.key}: MIXES HOSTS: {parts}; its iterations are pooled as one "
                       "sample (compare --by-host gives each host its own column)")
    return out


def kernel_log_warnings(columns: list) -> list[str]:
    """Per column, what the guests' kernel logs reported (harness/vm/health.py classes): a
    passed run may carry kernel warnings or TCG emulation stalls, and a reader of the
    comparison must see them beside the numbers, not only in the run records."""
    out = []
    for col in columns:
        for cls in ("warning", "stall"):
            lines: dict[str, int] = {}
            runs = 0
            for run in col.runs:
                found = (run.data.get("kernel_log") or {}).get(cls) or []
                runs += bool(found)
                for entry in found:
                    lines[entry.get("line", "?")] = lines.get(entry.get("line", "?"), 0) + 1
            if lines:
                first = next(iter(lines))
                more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
                kind = "kernel warnings" if cls == "warning" else "kernel stalls (TCG, transient)"
                out.append(f"{col.key}: {kind} in {runs} of {len(col.runs)} runs: "
                           f"{first}{more}")
        notes = dict.fromkeys(n for run in col.runs
                              for n in (run.data.get("workload") or {}).get("notes") or [])
        out += [f"{col.key}: {note}" for note in notes]
    return out


def warnings_for(dirs: list[ResultsDir], columns: list) -> tuple[str, ...]:
    versions = {str(d.path): d.versions for d in dirs}
    found = (mixed_host_warnings(columns, versions) + folder_warnings(dirs)
             + run_warnings(columns) + kernel_log_warnings(columns))
    return tuple(dict.fromkeys(found))


def show_lines(d: ResultsDir) -> list[tuple[str, str]]:
    """(title, value) pairs describing one folder's identity, for `tmemlab show`."""
    lines = [("results", str(d.path))]
    for title, path in SHOW_FIELDS:
        value = dig(d.versions, path)
        lines.append((title, "?" if value is None else str(value)))
    for spec, info in sorted((d.versions.get("kernels") or {}).items()):
        info = info if isinstance(info, dict) else {}
        ident = " ".join(str(info[k]) for k in ("package", "version") if info.get(k))
        lines.append((f"kernel {spec}", ident or "?"))
        lines.append(("  config hash", str(info.get("config_hash") or "?")))
    passed = sum(r.passed for r in d.runs)
    lines.append(("runs", f"{len(d.runs)} ({passed} passed, {len(d.runs) - passed} failed)"))
    for label in d.labels():
        n = sum(r.label == label for r in d.runs)
        lines.append((f"  {label}", f"{n} iteration(s)"))
    return lines
