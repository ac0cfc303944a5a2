"""The headline of a comparison: primary metrics, a verdict per column, the correction used and
the conditions the runs ran under. Numbers and short strings only; renderers format them."""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.compare.provenance import dig
from harness.report.compare.table import NO_TEST, ComparisonTable, Row

REFERENCE = "reference"
NO_DIFFERENCE = "no significant difference"
NOTHING_TESTED = "no primary metric tested"

# (what, path in runs/<run_id>.json): the conditions shown under the headline.
CONDITIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("workload", ("workload", "name")),
    ("accelerator", ("guest", "accel")),
    ("guest memory (MiB)", ("guest", "memory_mib")),
    ("guest vCPUs", ("guest", "vcpus")),
    ("swap disk (MiB)", ("guest", "swap_mib")),
    ("swap disk limits", ("guest", "swap_iotune")),
    ("TCG dilation", ("guest", "tcg_dilation")),
)


@dataclass(frozen=True)
class Verdict:
    text: str                    # reference | n=1: no test possible | no significant ... | ...
    better: tuple[str, ...] = ()  # metric names significantly better after the correction
    worse: tuple[str, ...] = ()
    tested: int = 0              # the family size


@dataclass(frozen=True)
class HeadlineRow:
    title: str   # what the metric means for the workload (metrics.PRIMARY)
    row: Row


@dataclass(frozen=True)
class Headline:
    rows: tuple[HeadlineRow, ...]
    verdicts: tuple[Verdict, ...]                       # per column
    correction: str                                     # e.g. Holm–Bonferroni over 9 ...
    alpha: float
    conditions: tuple[tuple[str, tuple[str, ...]], ...]  # (what, value per column)


def _verdict(table: ComparisonTable, i: int) -> Verdict:
    family = table.families[i] if table.families else None
    if table.references[i] is None or family is None:
        return Verdict(REFERENCE)
    if table.untestable(i):
        return Verdict(NO_TEST)
    if not family.size:
        return Verdict(NOTHING_TESTED)
    better = tuple(r.metric.name for r in table.rows if r.cells[i].verdict == "better")
    worse = tuple(r.metric.name for r in table.rows if r.cells[i].verdict == "worse")
    parts = ([f"better: {', '.join(better)}"] if better else []) + \
        ([f"worse: {', '.join(worse)}"] if worse else [])
    return Verdict("; ".join(parts) or NO_DIFFERENCE, better, worse, family.size)


def _condition(table: ComparisonTable, path: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for col in table.columns:
        seen = []
        for run in col.runs:
            value = dig(run.data, path)
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or None
            if value is not None and str(value) not in seen:
                seen.append(str(value))
        out.append(" / ".join(seen))
    return tuple(out)


def build_headline(table: ComparisonTable) -> Headline:
    titles: dict[str, str] = {}
    for family in table.families:
        for p in family.primary if family else ():
            titles.setdefault(p.metric, p.title)
    if not titles:  # a single column: show what its workload declares
        for col in table.columns:
            for p in col.primary:
                titles.setdefault(p.metric, p.title)
    rows = tuple(HeadlineRow(title, row) for name, title in titles.items()
                 if (row := table.row(name)) is not None)
    conditions = []
    for what, path in CONDITIONS:
        values = _condition(table, path)
        if any(values):
            conditions.append((what, values))
    return Headline(rows, tuple(_verdict(table, i) for i in range(len(table.columns))),
                    table.correction, table.alpha, tuple(conditions))
