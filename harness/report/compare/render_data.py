"""CSV and JSON forms of the comparison table: raw numbers, nothing rounded. Raw and
Holm-adjusted p are both kept; ``significant`` is decided on the adjusted one."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from harness.report.compare.headline import build_headline
from harness.report.compare.table import Cell, ComparisonTable, Geomean

CSV_FIELDS = (
    "metric", "title", "unit", "direction", "column", "label", "source", "reference",
    "n", "mean", "stddev", "cov_pct", "min", "max", "gain_pct", "p_value", "p_adjusted",
    "significant", "primary", "note",
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
        "p_adjusted": cell.p_adjusted,
        "significant": cell.significant,
        "primary": cell.primary,
        "note": cell.note,
        "values": list(cell.values),
    }


def _ref_key(table: ComparisonTable, i: int) -> str | None:
    ref = table.references[i]
    return None if ref is None else table.columns[ref].key


def _geomean(g: Geomean) -> dict[str, Any]:
    return {"value": g.value, "metrics": g.metrics, "reason": g.reason}


def table_to_dict(table: ComparisonTable) -> dict[str, Any]:
    head = build_headline(table)
    columns = []
    for i, c in enumerate(table.columns):
        family = table.families[i] if table.families else None
        verdict = head.verdicts[i]
        columns.append({
            "key": c.key, "label": c.label, "source": c.source, "workload": c.workload,
            "runs": len(c.runs), "passed": len(c.passed), "failed": c.n_failed,
            "reference": _ref_key(table, i), "geomean_ratio": table.geomean[i].value,
            "geomean": _geomean(table.geomean[i]),
            "verdict": {"text": verdict.text, "better": list(verdict.better),
                        "worse": list(verdict.worse)},
            "family": None if family is None else {
                "correction": family.correction, "size": family.size,
                "tested": list(family.tested),
                "primary": [p.metric for p in family.primary]},
        })
    metrics = [
        {
            "name": row.metric.name, "title": row.metric.label, "unit": row.metric.unit,
            "primary": any(cell.primary for cell in row.cells),
            "direction": row.metric.direction.value, "rate": row.metric.rate,
            "path": ".".join(row.metric.path),
            "cells": {c.key: _cell_dict(cell) for c, cell in zip(table.columns, row.cells)},
        }
        for row in table.rows
    ]
    return {"alpha": table.alpha, "correction": table.correction,
            "warnings": list(table.warnings),
            "headline": {"metrics": [hr.row.metric.name for hr in head.rows],
                         "conditions": {what: list(v) for what, v in head.conditions}},
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
