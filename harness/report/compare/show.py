"""`tmemlab show`: the identity of results folders as aligned text."""

from __future__ import annotations

from harness.report.compare.loader import ResultsDir
from harness.report.compare.provenance import show_lines


def render_show(d: ResultsDir) -> str:
    lines = show_lines(d)
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines) + "\n"


def show_data(d: ResultsDir) -> dict:
    """`tmemlab show --json`: the folder's versions.json (host, accel, QEMU, libvirt,
    commit, image, kernels) and each run's id, label, iteration, status and host."""
    return {"results": str(d.path), "experiment": d.experiment.get("name"),
            "versions": d.versions,
            "runs": [{"run_id": r.run_id, "label": r.label, "iteration": r.iteration,
                      "status": r.status,
                      "host": (r.data.get("host") or {}).get("hostname")
                      or (d.versions.get("host") or {}).get("hostname")}
                     for r in d.runs]}
