"""Build the numeric comparison table (numbers first; renderers only format it)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.compare import stats
from harness.compare.loader import ResultsDir, RunRecord
from harness.compare.metrics import Direction, Metric, lookup, metrics_for


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


@dataclass(frozen=True)
class Cell:
    values: tuple[float, ...]
    summary: stats.Summary | None
    gain_pct: float | None = None   # against the reference column; positive = better
    p_value: float | None = None
    significant: bool = False

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
class ComparisonTable:
    columns: tuple[Column, ...]
    references: tuple[int | None, ...]   # per column: index compared against, None = itself
    rows: tuple[Row, ...]
    geomean: tuple[float | None, ...]    # per column: geometric mean of better-oriented ratios
    alpha: float
    warnings: tuple[str, ...] = ()

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.metric.name == name), None)

    @property
    def single_iteration(self) -> bool:
        return all(len(c.passed) <= 1 for c in self.columns)


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
    found = (lookup(r.data, metric.path) for r in col.passed)
    return tuple(v for v in found if v is not None)


def _compare(cell: Cell, ref: Cell, metric: Metric, alpha: float) -> Cell:
    if cell.summary is None or ref.summary is None:
        return cell
    hib = None if metric.direction is Direction.NEUTRAL else metric.direction is Direction.HIGHER
    gain = stats.gain_pct(ref.summary.mean, cell.summary.mean, hib)
    p = stats.welch_p(ref.values, cell.values)
    sig = hib is not None and stats.significant(p, alpha)
    return Cell(cell.values, cell.summary, gain, p, sig)


def build_row(metric: Metric, columns: list[Column], refs: list[int | None],
              alpha: float) -> Row:
    raw = []
    for col in columns:
        vals = _values(col, metric)
        raw.append(Cell(vals, stats.summarize(vals, metric.rate) if vals else None))
    cells = [c if ref is None else _compare(c, raw[ref], metric, alpha)
             for c, ref in zip(raw, refs)]
    return Row(metric, tuple(cells))


def column_geomeans(rows: list[Row], refs: list[int | None]) -> list[float | None]:
    """Per column, the geometric mean over directional metrics of mean ratios (>1 = better)."""
    out: list[float | None] = []
    for i, ref in enumerate(refs):
        if ref is None:
            out.append(1.0)
            continue
        ratios = []
        for row in rows:
            if row.metric.direction is Direction.NEUTRAL:
                continue
            a, b = row.cells[ref].summary, row.cells[i].summary
            if a is None or b is None:
                continue
            r = stats.ratio(a.mean, b.mean, row.metric.direction is Direction.HIGHER)
            if r is not None:
                ratios.append(r)
        out.append(stats.gmean(ratios) if ratios else None)
    return out


def build_table(columns: list[Column], alpha: float = stats.DEFAULT_ALPHA,
                refs: list[int | None] | None = None,
                warnings: tuple[str, ...] = ()) -> ComparisonTable:
    if refs is None:
        refs = match_references(columns, None)
    runs = [r.data for c in columns for r in c.passed]
    rows = [build_row(m, columns, refs, alpha) for m in metrics_for(runs)]
    return ComparisonTable(
        columns=tuple(columns),
        references=tuple(refs),
        rows=tuple(rows),
        geomean=tuple(column_geomeans(rows, refs)),
        alpha=alpha,
        warnings=warnings,
    )
