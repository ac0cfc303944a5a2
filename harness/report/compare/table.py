"""Build the numeric comparison table (numbers first; renderers only format it).

Each column is compared with its reference column. Only the workload's primary metrics
(``metrics.PRIMARY``) are tested: Welch's t-test per metric (on the logarithms of positive
values: stats.welch_p_ratio), then Holm–Bonferroni over the
primary metrics tested in that one column-vs-reference comparison; significance, verdicts, the
geomean and the regression gate use the adjusted p. Every other metric is descriptive.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.compare import stats
from harness.report.compare.loader import ResultsDir, RunRecord
from harness.report.compare.metrics import (
    Direction,
    Metric,
    Primary,
    metrics_for,
    primary_for,
    value,
)

NO_TEST = "n=1: no test possible"


@dataclass(frozen=True)
class Column:
    """One comparison column: the runs of one label in one results folder."""

    key: str      # unique display name
    label: str
    source: str   # results folder name (its path when two folders share a name)
    runs: tuple[RunRecord, ...]
    origin: int = 0  # index of the folder in the compared list

    @property
    def passed(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.runs if r.passed)

    @property
    def n_failed(self) -> int:
        return len(self.runs) - len(self.passed)

    @property
    def workload(self) -> str | None:
        """The workload name of the column's runs (run record: workload.name)."""
        for run in self.passed or self.runs:
            w = run.data.get("workload")
            if isinstance(w, dict) and w.get("name"):
                return str(w["name"])
        return None

    @property
    def primary(self) -> tuple[Primary, ...]:
        return primary_for(self.workload, tuple(r.data for r in self.passed or self.runs))


@dataclass(frozen=True)
class Cell:
    values: tuple[float, ...]
    summary: stats.Summary | None
    gain_pct: float | None = None   # against the reference column; positive = better
    p_value: float | None = None    # raw Welch p (primary metrics only)
    significant: bool = False       # adjusted p below alpha (primary metrics only)
    p_adjusted: float | None = None  # Holm-adjusted over the comparison's family
    primary: bool = False           # a primary metric of this comparison: tested
    note: str = ""                  # why a primary metric was not tested (NO_TEST)

    @property
    def verdict(self) -> str:
        """'better' / 'worse' when significant and directional, else ''."""
        if not self.significant or self.gain_pct is None or self.gain_pct == 0:
            return ""
        return "better" if self.gain_pct > 0 else "worse"


@dataclass(frozen=True)
class Row:
    metric: Metric
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Family:
    """The tests of one column-vs-reference comparison and their correction."""

    primary: tuple[Primary, ...]   # declared for both workloads and present in the table
    tested: tuple[str, ...]        # metric names with a p-value: the family Holm runs over
    correction: str = stats.HOLM

    @property
    def size(self) -> int:
        return len(self.tested)


@dataclass(frozen=True)
class Geomean:
    """Geometric mean over the primary metrics of mean ratios oriented so that > 1 = better;
    ``value`` is None (with ``reason``) rather than an average over what happens to be there."""

    value: float | None
    metrics: int = 0
    reason: str = ""


@dataclass(frozen=True)
class ComparisonTable:
    columns: tuple[Column, ...]
    references: tuple[int | None, ...]   # per column: index compared against, None = itself
    rows: tuple[Row, ...]
    geomean: tuple[Geomean, ...]         # per column
    alpha: float
    warnings: tuple[str, ...] = ()
    families: tuple[Family | None, ...] = ()  # per column; None for a reference column

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.metric.name == name), None)

    @property
    def single_iteration(self) -> bool:
        return all(len(c.passed) <= 1 for c in self.columns)

    def untestable(self, i: int) -> bool:
        """Column ``i`` or its reference has fewer than two passed runs: nothing is tested."""
        ref = self.references[i]
        return ref is not None and min(len(self.columns[i].passed),
                                       len(self.columns[ref].passed)) < 2

    @property
    def correction(self) -> str:
        """'Holm–Bonferroni over N primary metrics' (N per comparison when they differ)."""
        sizes = sorted({f.size for f in self.families if f is not None and f.size})
        if not sizes:
            return f"{stats.HOLM}: no comparison had a test"
        n = "/".join(str(s) for s in sizes)
        return f"{stats.HOLM} over {n} primary metrics per comparison"


def build_columns(dirs: list[ResultsDir], labels: list[str] | None = None) -> list[Column]:
    """Columns in folder order, then label order (or the order of ``labels`` when given)."""
    names = [d.name for d in dirs]
    names = [n if names.count(n) == 1 else str(d.path) for n, d in zip(names, dirs)]
    names = [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]
    pairs: list[tuple[int, str]] = []
    for origin, d in enumerate(dirs):
        wanted = labels if labels is not None else d.labels()
        pairs += [(origin, lab) for lab in wanted if lab in d.labels()]
    counts: dict[str, int] = {}
    for _, lab in pairs:
        counts[lab] = counts.get(lab, 0) + 1
    columns = []
    for origin, lab in pairs:
        key = lab if counts[lab] == 1 else f"{names[origin]}/{lab}"
        runs = tuple(r for r in dirs[origin].runs if r.label == lab)
        columns.append(Column(key, lab, names[origin], runs, origin))
    return columns


def match_references(columns: list[Column], baseline: int | None = None) -> list[int | None]:
    """Reference column per column.

    Without a baseline folder every column compares against the first. With one (its index in
    the compared folders), a column from another folder compares against the baseline column of
    the same label, or else the first column.
    """
    refs: list[int | None] = []
    base_idx = {c.label: i for i, c in enumerate(columns) if c.origin == baseline}
    for i, col in enumerate(columns):
        if i == 0 or (baseline is not None and col.origin == baseline):
            refs.append(None)
        elif baseline is not None:
            refs.append(base_idx.get(col.label, 0))
        else:
            refs.append(0)
    return refs


def _values(col: Column, metric: Metric) -> tuple[float, ...]:
    found = (value(r.data, metric) for r in col.passed)
    return tuple(v for v in found if v is not None)


def _hib(metric: Metric) -> bool | None:
    return None if metric.direction is Direction.NEUTRAL else metric.direction is Direction.HIGHER


def _resolved(gain: float | None, metric: Metric) -> bool:
    """A change within the metric's resolution (a histogram bucket) is never significant."""
    return gain is not None and abs(gain) > metric.resolution_pct


def family_for(col: Column, ref: Column, present: set[str]) -> tuple[Primary, ...]:
    """Primary metrics of a comparison: declared for the column's workload and the
    reference's, and present in the table."""
    theirs = {p.metric for p in ref.primary}
    return tuple(p for p in col.primary if p.metric in theirs and p.metric in present)


def _gain(cell: Cell, ref: Cell, metric: Metric) -> Cell:
    if cell.summary is None or ref.summary is None:
        return cell
    gain = stats.gain_pct(ref.summary.mean, cell.summary.mean, _hib(metric))
    return Cell(cell.values, cell.summary, gain)


def compare_column(raw: list[list[Cell]], rows: list[Metric], i: int, ref: int,
                   primary: set[str], alpha: float,
                   testable: bool = True) -> tuple[list[Cell], tuple[str, ...]]:
    """Column ``i`` against ``ref``: changes everywhere, tests on primary rows, then Holm.

    ``testable`` False (a side with a single passed run): no test, every cell says NO_TEST.
    Returns the column's cells (one per row) and the names of the metrics tested.
    """
    cells = [_gain(raw[r][i], raw[r][ref], m) for r, m in enumerate(rows)]
    raw_p = [stats.welch_p_ratio(raw[r][ref].values, raw[r][i].values)
             if testable and m.name in primary and _hib(m) is not None else None
             for r, m in enumerate(rows)]
    adjusted = stats.holm(raw_p)
    out = []
    for r, (cell, m) in enumerate(zip(cells, rows)):
        is_primary = m.name in primary
        if not is_primary and testable:
            out.append(cell)
            continue
        p, adj = raw_p[r], adjusted[r]
        out.append(Cell(cell.values, cell.summary, cell.gain_pct, p,
                        stats.significant(adj, alpha) and _resolved(cell.gain_pct, m), adj,
                        is_primary, NO_TEST if p is None else ""))
    tested = tuple(m.name for m, p in zip(rows, raw_p) if p is not None)
    return out, tested


def column_geomean(rows: list[Row], i: int, ref: int, family: Family, key: str,
                   ref_key: str) -> Geomean:
    """Geomean of better-oriented mean ratios over the comparison's primary metrics. A primary
    metric measured on one side only, or not positive, makes it None with the reason: the
    rest are not averaged as if it did not exist. Missing on both sides: not measured, skipped.
    """
    if not family.primary:
        return Geomean(None, 0, "no primary metrics declared for this workload")
    by_name = {row.metric.name: row for row in rows}
    ratios, problems = [], []
    for p in family.primary:
        row = by_name[p.metric]
        a, b = row.cells[ref].summary, row.cells[i].summary
        if a is None and b is None:
            continue
        if a is None or b is None:
            problems.append(f"{p.metric} missing in {ref_key if a is None else key}")
            continue
        r = stats.ratio(a.mean, b.mean, row.metric.direction is Direction.HIGHER)
        if r is None:
            problems.append(f"{p.metric} not positive in {ref_key if a.mean <= 0 else key}")
        else:
            ratios.append(r)
    if problems:
        return Geomean(None, 0, "; ".join(problems))
    if not ratios:
        return Geomean(None, 0, "no primary metric measured")
    return Geomean(stats.gmean(ratios), len(ratios))


def build_table(columns: list[Column], alpha: float = stats.DEFAULT_ALPHA,
                refs: list[int | None] | None = None,
                warnings: tuple[str, ...] = ()) -> ComparisonTable:
    if refs is None:
        refs = match_references(columns, None)
    runs = [r.data for c in columns for r in c.passed]
    metrics = metrics_for(runs)
    raw = [[Cell(v, stats.summarize(v, m.rate) if v else None)
            for v in (_values(c, m) for c in columns)] for m in metrics]
    present = {m.name for m in metrics}
    by_column: list[list[Cell]] = []
    families: list[Family | None] = []
    for i, ref in enumerate(refs):
        if ref is None:
            by_column.append([raw[r][i] for r in range(len(metrics))])
            families.append(None)
            continue
        primary = family_for(columns[i], columns[ref], present)
        testable = min(len(columns[i].passed), len(columns[ref].passed)) >= 2
        cells, tested = compare_column(raw, metrics, i, ref, {p.metric for p in primary},
                                       alpha, testable)
        by_column.append(cells)
        families.append(Family(primary, tested))
    rows = [Row(m, tuple(col[r] for col in by_column)) for r, m in enumerate(metrics)]
    geomean = [Geomean(1.0, 0, "reference") if ref is None
               else column_geomean(rows, i, ref, fam, columns[i].key, columns[ref].key)
               for i, (ref, fam) in enumerate(zip(refs, families))]
    return ComparisonTable(
        columns=tuple(columns),
        references=tuple(refs),
        rows=tuple(rows),
        geomean=tuple(geomean),
        alpha=alpha,
        warnings=warnings,
        families=tuple(families),
    )
