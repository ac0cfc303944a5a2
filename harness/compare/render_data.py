"""CSV and JSON forms of the comparison table: raw numbers, nothing rounded."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from harness.compare.table import Cell, ComparisonTable

CSV_FIELDS = (
    "metric", "title", "unit", "direction", "column", "label", "source", "reference",
    "n", "mean", "stddev", "cov_pct", "min", "max", "gain_pct", "p_value", "significant",
)


def _cell_dict(cell: Cell) -> dict[str, Any]:
    s = cell.summary
    return {
        "n": s.n if s else 0,
        "mean": s.mean if s else None,
        "stddev": s.stddev if s else None,
        "cov_pct": s.cov_pct if s else None,
        "min": s.min if s else None,
        "max": s.max if s else None,
        "gain_pct": cell.gain_pct,
        "p_value": cell.p_value,
        "significant": cell.significant,
        "values": list(cell.values),
    }


def _ref_key(table: ComparisonTable, i: int) -> str | None:
    ref = table.references[i]
    return None if ref is None else table.columns[ref].key


def table_to_dict(table: ComparisonTable) -> dict[str, Any]:
    columns = [
        {
            "key": c.key, "label": c.label, "source": c.source,
            "runs": len(c.runs), "passed": len(c.passed), "failed": c.n_failed,
            "reference": _ref_key(table, i), "geomean_ratio": table.geomean[i],
        }
        for i, c in enumerate(table.columns)
    ]
    metrics = [
        {
            "name": row.metric.name, "title": row.metric.label, "unit": row.metric.unit,
            "direction": row.metric.direction.value, "rate": row.metric.rate,
            "path": ".".join(row.metric.path),
            "cells": {c.key: _cell_dict(cell) for c, cell in zip(table.columns, row.cells)},
        }
        for row in table.rows
    ]
    return {"alpha": table.alpha, "warnings": list(table.warnings),
            "columns": columns, "metrics": metrics}


def render_json(table: ComparisonTable) -> str:
    return json.dumps(table_to_dict(table), indent=2) + "\n"


def render_csv(table: ComparisonTable) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        m = row.metric
        for i, (col, cell) in enumerate(zip(table.columns, row.cells)):
            d = _cell_dict(cell)
            d.pop("values")
            writer.writerow({
                "metric": m.name, "title": m.label, "unit": m.unit,
                "direction": m.direction.value, "column": col.key, "label": col.label,
                "source": col.source, "reference": _ref_key(table, i) or "",
                **{k: ("" if v is None else v) for k, v in d.items()},
            })
    return buf.getvalue()
