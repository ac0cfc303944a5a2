"""Regression gate for CI: significant regressions beyond a percentage. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from harness.compare import fmt
from harness.compare.table import ComparisonTable


@dataclass(frozen=True)
class Regression:
    column: str
    reference: str
    metric: str
    gain_pct: float
    p_value: float | None

    def __str__(self) -> str:
        p = "" if self.p_value is None else f", p={self.p_value:.3g}"
        return (f"{self.column} vs {self.reference}: {self.metric} "
                f"{fmt.pct(self.gain_pct)} (worse{p})")


def find_regressions(table: ComparisonTable, threshold_pct: float) -> list[Regression]:
    """Cells that are significantly worse than their reference by more than ``threshold_pct``."""
    found = []
    for row in table.rows:
        for i, cell in enumerate(row.cells):
            ref = table.references[i]
            if ref is None or cell.verdict != "worse" or cell.gain_pct is None:
                continue
            if -cell.gain_pct > threshold_pct:
                found.append(Regression(table.columns[i].key, table.columns[ref].key,
                                        row.metric.name, cell.gain_pct, cell.p_value))
    return found
