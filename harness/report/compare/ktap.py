"""KTAP (v1) for an experiment: one test per run; a failed run carries its reason and console tail.

Format: Documentation/dev-tools/ktap.rst — "KTAP version 1", a plan "1..N", then
"ok|not ok <n> <description>"; diagnostic lines start with "# " and precede their result.
"""

from __future__ import annotations

from harness.report.compare.loader import RunRecord

KTAP_HEADER = "KTAP version 1"


def _description(run: RunRecord) -> str:
    # '#' would start a directive on the result line
    return run.run_id.replace("#", "_").replace("\n", " ")


def render_ktap(runs: list[RunRecord], tails: dict[str, str], name: str = "") -> str:
    """``tails`` maps run_id to the console tail of failed runs."""
    out = [KTAP_HEADER, f"1..{len(runs)}"]
    if name:
        out.insert(1, f"# tmemlab experiment: {name}")
    for n, run in enumerate(runs, start=1):
        if not run.passed:
            reason = (run.failure or {}).get("reason") or run.status
            out.append(f"# {run.run_id}: {reason}")
            out += [f"# {line}" for line in tails.get(run.run_id, "").splitlines()]
        verdict = "ok" if run.passed else "not ok"
        out.append(f"{verdict} {n} {_description(run)}")
    return "\n".join(out) + "\n"
